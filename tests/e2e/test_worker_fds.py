"""A plain worker inherits only stdin, stdout, stderr and its protocol socket (fd 3), and
receives its file socket (FILE_SOCKET, docs/worker-protocol.md): none of
berth's client connections, listeners or epoll descriptors. A leaked client connection
stays open in the worker after berth closes it, and the client never sees EOF."""
import os
import socket

from conftest import SAMPLES, VENV_PYTHON


def test_workers_spawned_while_connections_are_open_inherit_none_of_them(start_berth):
    berth = start_berth("serve", "app:app", "--chdir", SAMPLES / "hello", "-w", "1",
                        "-b", "127.0.0.1:0", "--python", VENV_PYTHON, "--no-isolate")
    # A client connection open while the worker is replaced (crash → respawn).
    idle = socket.create_connection((berth.host, berth.port))
    crash = socket.create_connection((berth.host, berth.port))
    crash.sendall(b"GET /crash HTTP/1.1\r\nHost: x\r\n\r\n")
    assert crash.recv(100).startswith(b"HTTP/1.1 502")
    berth.wait_for(lambda: "starting a replacement" in berth.stderr, 10, "the replacement")
    berth.wait_for(lambda: berth.stderr.count("ready in") >= 2, 10, "the replacement to be ready")

    def descriptors():
        found = {}
        for pid in berth.worker_pids():
            try:
                found[pid] = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            except FileNotFoundError:  # the crashed worker, just reaped
                pass
        return found

    def settled():
        # The replacement takes its file socket with its first read, which may come just
        # after READY; the crashed worker may still be listed until it is reaped.
        found = descriptors()
        return len(found) == 1 and all(
            len([t for t in fds.values() if t.startswith("socket:")]) == 2 for fds in found.values())

    berth.wait_for(settled, 10, "one worker holding its two sockets")
    for pid, fds in descriptors().items():
        sockets = sorted(fd for fd, target in fds.items() if target.startswith("socket:"))
        assert len(sockets) == 2 and sockets[0] == 3, fds  # fd 3 and the file socket
        assert not any("eventpoll" in t for t in fds.values()), fds
    idle.close()
    crash.close()

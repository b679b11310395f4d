"""Preload: the zygote imports the app once and forks ready workers on FORK."""

import ctypes
import os
import signal
import socket
import struct
import time
import unittest

from gwclient import HDR, READY, STOP, Worker

FORK, FORKED = 0x12, 0x28
PR_SET_CHILD_SUBREAPER = 36


def fork_worker(zygote):
    """Send FORK with a fresh socket end; return (pid, our end)."""
    ours, theirs = socket.socketpair()
    zygote.sock.sendmsg([HDR.pack(0, FORK, 0, 0)],
                        [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('i', theirs.fileno()))])
    theirs.close()
    pid = int(zygote.expect(FORKED))
    ours.settimeout(30)
    return pid, ours


def recv_frame(sock, buf=b''):
    while True:
        if len(buf) >= 8:
            length, ftype, flags, _ = HDR.unpack_from(buf)
            if len(buf) >= 8 + length:
                return ftype, buf[8:8 + length], buf[8 + length:]
        data = sock.recv(65536)
        if not data:
            raise EOFError
        buf += data


class ZygoteTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Like berth: the forked workers become our children once their middle process exits.
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0

    def test_forks_ready_workers_that_serve(self):
        with Worker('--app', 'probe:app', '--zygote') as z:
            self.assertEqual(z.facts['app'], 'probe:app')
            pids = []
            for _ in range(3):
                pid, sock = fork_worker(z)
                ftype, payload, rest = recv_frame(sock)
                self.assertEqual(ftype, READY)
                self.assertIn(b'"pid": %d' % pid, payload)
                block = b'REQUEST_METHOD\0GET\0PATH_INFO\0/pid\0SCRIPT_NAME\0\0QUERY_STRING\0\0'
                sock.sendall(HDR.pack(len(block), 0x01, 0, 0) + block)
                frames = []
                while not frames or frames[-1][0] != 0x24:
                    ftype, payload, rest = recv_frame(sock, rest)
                    frames.append((ftype, payload))
                self.assertEqual(frames[1][1], str(pid).encode())
                # A worker is our child (re-parented), not the zygote's.
                with open('/proc/%d/stat' % pid) as f:
                    self.assertEqual(int(f.read().rsplit(')', 1)[1].split()[1]), os.getpid())
                pids.append((pid, sock))
            self.assertEqual(len({p for p, _ in pids}), 3)
            # Closing a worker's socket stops it; the zygote is unaffected.
            for pid, sock in pids:
                sock.close()
                _, status = os.waitpid(pid, 0)
                self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            z.send(STOP)
            self.assertEqual(z.wait(), 0)

    def test_workers_outlive_a_killed_zygote(self):
        z = Worker('--app', 'probe:app', '--zygote')
        try:
            pid, sock = fork_worker(z)
            self.assertEqual(recv_frame(sock)[0], READY)
            z.proc.send_signal(signal.SIGKILL)
            z.proc.wait()
            time.sleep(0.1)
            os.kill(pid, 0)  # still alive
            sock.close()
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        finally:
            z.close()

    def test_boot_error_is_reported_by_the_zygote(self):
        with Worker('--app', 'broken_import:app', '--zygote', ready=False) as z:
            text = z.expect(0x21).decode()
            self.assertIn('cannot load app', text)
            self.assertEqual(z.wait(), 3)


if __name__ == '__main__':
    unittest.main()

"""Preload: a zygote imports the app once, then forks ready workers on demand.

The gateway talks to the zygote over its own socketpair end (fd 3): READY or BOOT_ERROR
once the app imported, then one FORK frame per worker, carrying that worker's socket end
as SCM_RIGHTS ancillary data, answered by FORKED with the worker's pid. Each worker is
forked twice over (the middle process exits at once), so that it is re-parented to the
gateway, which set itself as a child subreaper: the gateway waits for and signals its
workers as if it had started them, and a zygote that dies leaves its workers running.
With isolation the zygote runs in a container of its own (pid namespace): the worker is
re-parented to the container's init instead, and FORKED carries its pid inside the
container, which the gateway maps to a host pid (docs/isolation.md).
"""

import gc
import json
import os
import socket
import sys

from .protocol import (HEADER, HEADER_SIZE, FORK, FORKED, READY, STOP, Connection,
                       ProtocolError, frame)
from .stackdump import arm_stack_dump
from .worker import run


def serve(ctl, app, facts, threads=1):
    """Fork a worker per FORK frame until STOP or the gateway closes; return the exit status.
    Each worker runs `threads` lanes (they start after the fork: the zygote has one thread)."""
    # The app's modules are shared copy-on-write with every worker: keep the collector from
    # touching (and so copying) them in the workers.
    gc.collect()
    gc.freeze()
    ctl.sendall(frame(READY, json.dumps(facts, default=str).encode()))
    while True:
        try:
            ftype, fds = _read_command(ctl)
        except EOFError:
            return 0
        if ftype == STOP:
            return 0
        if ftype != FORK or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ProtocolError('expected FORK with one descriptor, got 0x%02x with %d' % (ftype, len(fds)))
        pid = _fork_worker(ctl, fds[0], app, facts, threads)
        ctl.sendall(frame(FORKED, str(pid).encode()))


def _read_command(ctl):
    """Read one header-only frame and any descriptors sent with it."""
    data = b''
    fds = []
    while len(data) < HEADER_SIZE:
        msg, anc, _, _ = ctl.recvmsg(HEADER_SIZE - len(data), socket.CMSG_SPACE(4 * 4))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % 4
                fds.extend(int.from_bytes(payload[i:i + 4], sys.byteorder) for i in range(0, usable, 4))
        if not msg:
            for fd in fds:
                os.close(fd)
            raise EOFError
        data += msg
    length, ftype, _, _ = HEADER.unpack(data)
    if length:
        raise ProtocolError('zygote commands carry no payload')
    return ftype, fds


def _fork_worker(ctl, fd, app, facts, threads=1):
    """Fork twice; return the pid of the worker, which is no child of ours."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        status = 1
        try:
            os.close(r)
            pid = os.fork()
            if pid == 0:
                os.close(w)
                ctl.close()
                status = _run_worker(fd, app, facts, threads)
            else:
                os.write(w, b'%d' % pid)
                status = 0
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    os.close(w)
    os.close(fd)
    os.waitpid(middle, 0)
    data = os.read(r, 32)
    os.close(r)
    if not data:
        raise OSError('fork of a worker failed')
    return int(data)


def _run_worker(fd, app, facts, threads=1):
    """The forked worker: serve requests on `fd` like a freshly started one."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    sock.set_inheritable(False)
    conn = Connection(sock)
    # A pipe of its own for its stack: the zygote's is shared by every fork.
    inherited = facts.get('stack_fd')
    facts = dict(facts, pid=os.getpid(), stack_fd=arm_stack_dump())
    if inherited is not None:
        os.close(inherited)
    try:
        return run(conn, app, facts, threads=threads)
    finally:
        sock.close()

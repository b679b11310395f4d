"""Threads per worker (`--threads N`): N lanes, each a thread running the request loop.

Every frame carries its lane (0..N-1) in the header's reserved field
(docs/worker-protocol.md, "Threads"). The reader thread reads the socket and hands each
lane its frames; each lane thread runs worker.Worker.serve() on a LaneConnection, which
looks like protocol.Connection to the loop, the response and wsgi.input. Within a lane
everything is as in a single-threaded worker (in order, SKIPPED after RECLAIM, replies on
the socket before the next request starts); lanes run at once. Writes go out whole under
one lock, the lane stamped into each frame header, so replies of different threads never
interleave inside a frame, and a descriptor on the file socket is always followed by its
own RESPONSE_FILE frame.
"""

import collections
import gc
import json
import os
import socket
import struct
import sys
import threading
import traceback

from .protocol import (FILE_REGION, FILE_SOCKET, HEADER, HEADER_SIZE, MAX_PAYLOAD, PING,
                       PONG, READY, RECLAIM, RESPONSE_FILE, STOP, GatewayGone, ProtocolError,
                       frame)
from .worker import Worker

_LENGTH = struct.Struct('!I')
_LANE = struct.Struct('!H')
_EOF = (None, 0, b'')


def stamp(data, lane):
    """Write `lane` into the reserved field of every frame header in `data` (whole frames)."""
    buf = bytearray(data)
    pos, end = 0, len(buf)
    while pos < end:
        _LANE.pack_into(buf, pos + 6, lane)
        pos += HEADER_SIZE + _LENGTH.unpack_from(buf, pos)[0]
    return buf


class Shared:
    """The worker's socket and file socket, written by every lane under one lock."""

    def __init__(self, sock):
        self.sock = sock
        self.file_sock = None
        self.lock = threading.Lock()

    def send(self, lane, parts, fd=None):
        """Send whole frames for `lane`; with `fd`, pass it on the file socket first."""
        data = b''.join(parts)
        if lane:
            data = stamp(data, lane)
        with self.lock:
            if fd is not None:
                socket.send_fds(self.file_sock, [b'\0'], [fd])
            self.sock.sendall(data)


class LaneConnection:
    """One lane's view of the connection, with protocol.Connection's interface."""

    def __init__(self, shared, lane):
        self.shared = shared
        self.lane = lane
        self.frames = collections.deque()
        self.ready = threading.Condition()
        self.eof = False
        self.stopping = False
        self.failed = None
        self.pending = []
        self.pending_size = 0
        self.reclaims = 0

    @property
    def file_sock(self):
        return self.shared.file_sock

    def put(self, item):
        """Called by the reader: one frame (type, flags, payload) for this lane."""
        with self.ready:
            self.frames.append(item)
            self.ready.notify()

    def read_frame(self):
        """Return (type, flags, payload) of the lane's next frame; EOFError at the end."""
        if self.failed is not None:
            raise self.failed
        while True:
            with self.ready:
                item = self.frames.popleft() if self.frames else None
            if item is None:
                # About to wait: the replies of the batch go out first.
                if self.pending:
                    self.flush_pending()
                with self.ready:
                    while not self.frames:
                        self.ready.wait()
                    item = self.frames.popleft()
            ftype, flags, payload = item
            if ftype is None:
                self.eof = True
                with self.ready:
                    self.frames.appendleft(_EOF)
                raise EOFError
            if ftype == RECLAIM:
                if self.reclaims:
                    self.reclaims -= 1
                continue
            if ftype == STOP:
                self.stopping = True
            return ftype, flags, payload

    def look_ahead(self):
        """Count the RECLAIM frames that arrived for this lane (see Connection.look_ahead)."""
        with self.ready:
            self.reclaims = sum(1 for item in self.frames if item[0] == RECLAIM)

    def queue(self, parts):
        self.pending.extend(parts)
        self.pending_size += sum(map(len, parts))
        if self.pending_size >= 1 << 18:
            self.flush_pending()

    def flush_pending(self):
        if self.pending:
            parts = self.pending
            self.pending = []
            self.pending_size = 0
            self._send(parts)

    def send_parts(self, parts):
        if self.pending:
            parts = self.pending + parts
            self.pending = []
            self.pending_size = 0
        self._send(parts)

    def sendall(self, data):
        self._send([data])

    def send_file(self, parts, fd, offset, length):
        parts.append(HEADER.pack(FILE_REGION.size, RESPONSE_FILE, 0, 0)
                     + FILE_REGION.pack(offset, length))
        if self.pending:
            parts = self.pending + parts
            self.pending = []
            self.pending_size = 0
        self._send(parts, fd)

    def fail(self, exc):
        if self.failed is None:
            self.failed = exc
        return exc

    def _send(self, parts, fd=None):
        try:
            self.shared.send(self.lane, parts, fd)
        except OSError as exc:
            raise self.fail(GatewayGone(str(exc))) from exc


def read_loop(shared, lanes):
    """The reader: hands each lane its frames, answers PING, broadcasts STOP; at the end
    of the stream (or a malformed frame) every lane sees EOF."""
    sock = shared.sock
    buf = bytearray()
    first = True
    try:
        while True:
            if first:
                # The gateway's first frame, FILE_SOCKET, carries a descriptor.
                first = False
                data, ancdata, _, _ = sock.recvmsg(1 << 18, socket.CMSG_SPACE(16), socket.MSG_CMSG_CLOEXEC)
                for level, kind, fds in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds = fds[:len(fds) - len(fds) % 4]
                        for i, fd in enumerate(struct.unpack('%di' % (len(fds) // 4), fds)):
                            if i == 0 and shared.file_sock is None:
                                shared.file_sock = socket.socket(fileno=fd)
                            else:
                                os.close(fd)
            else:
                data = sock.recv(1 << 18)
            if not data:
                return
            buf += data
            pos = 0
            while len(buf) - pos >= HEADER_SIZE:
                length, ftype, flags, lane = HEADER.unpack_from(buf, pos)
                if length > MAX_PAYLOAD:
                    raise ProtocolError('frame length %d exceeds MAX_PAYLOAD' % length)
                if len(buf) - pos < HEADER_SIZE + length:
                    break
                payload = bytes(buf[pos + HEADER_SIZE:pos + HEADER_SIZE + length])
                pos += HEADER_SIZE + length
                if ftype == PING:
                    shared.send(0, [frame(PONG, payload)])
                elif ftype == FILE_SOCKET:
                    continue  # its descriptor came with the first read
                elif ftype == STOP:
                    for conn in lanes:
                        conn.put((STOP, flags, payload))
                elif lane < len(lanes):
                    lanes[lane].put((ftype, flags, payload))
                else:
                    raise ProtocolError('frame for lane %d of a worker with %d threads' % (lane, len(lanes)))
            del buf[:pos]
    except ProtocolError as exc:
        sys.stderr.write('berth worker: protocol error: %s\n' % exc)
        sys.stderr.flush()
        os._exit(4)
    except OSError:
        pass
    finally:
        for conn in lanes:
            conn.put(_EOF)


def serve(sock, app, facts, threads, freeze=False):
    """Start `threads` lanes, say READY (with each lane's thread id, as faulthandler prints
    it), then serve until every lane stopped or the gateway went away; return the exit
    status."""
    shared = Shared(sock)
    lanes = [LaneConnection(shared, i) for i in range(threads)]

    def lane_main(conn):
        worker = Worker(conn, app)
        worker.base['wsgi.multithread'] = True
        try:
            worker.serve()
        except (EOFError, GatewayGone):
            pass
        except BaseException:  # noqa: BLE001 - a lane that dies must take the worker down
            # A protocol error, or the app raised SystemExit: the whole worker stops, as a
            # single-threaded one would; the gateway fails what its lanes were running.
            sys.stderr.write('berth worker: thread %s: %s' % (threading.current_thread().name,
                                                              traceback.format_exc()))
            sys.stderr.flush()
            os._exit(4 if isinstance(conn.failed, ProtocolError) else 1)

    pool = [threading.Thread(target=lane_main, args=(conn,), name='berth-lane-%d' % i, daemon=True)
            for i, conn in enumerate(lanes)]
    for t in pool:
        t.start()
    facts = dict(facts, threads=['0x%016x' % t.ident for t in pool])
    shared.send(0, [frame(READY, json.dumps(facts, default=str).encode())])
    if freeze:
        gc.collect()
        gc.freeze()
    threading.Thread(target=read_loop, args=(shared, lanes), name='berth-reader', daemon=True).start()
    for t in pool:
        t.join()
    return 0

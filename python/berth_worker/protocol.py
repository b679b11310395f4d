"""Framing of the berth worker protocol (docs/worker-protocol.md)."""

import array
import os
import socket
import struct

VERSION = 1

HEADER = struct.Struct('!IBBH')  # length, type, flags, reserved
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 1 << 24

# Gateway -> worker
REQUEST = 0x01
BODY = 0x02
BODY_END = 0x03
RECLAIM = 0x04
FILE_SOCKET = 0x05  # the first frame, with the file socket attached (SCM_RIGHTS)
PING = 0x10
STOP = 0x11
FORK = 0x12      # to a zygote, with a socket end attached (SCM_RIGHTS)

# Worker -> gateway
READY = 0x20
BOOT_ERROR = 0x21
RESPONSE_START = 0x22
RESPONSE_BODY = 0x23
RESPONSE_END = 0x24
APP_ERROR = 0x25
PONG = 0x26
SKIPPED = 0x27
FORKED = 0x28    # from a zygote: the new worker's pid
RESPONSE_FILE = 0x29  # offset, length; the descriptor goes on the file socket

# Flags
HAS_BODY = 0x01  # on REQUEST
ABORTED = 0x01   # on BODY_END

_pack = HEADER.pack
_unpack_from = HEADER.unpack_from

FILE_REGION = struct.Struct('!QQ')  # RESPONSE_FILE payload: offset, length

END_FRAME = _pack(0, RESPONSE_END, 0, 0)
SKIPPED_FRAME = _pack(0, SKIPPED, 0, 0)

# A finished reply waits in `pending` until the next request starts or the
# worker blocks reading (so SKIPPED answers join it); larger ones go out at once.
_PENDING_LIMIT = 1 << 18


_INT = array.array('i')


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


class ProtocolError(Exception):
    """The peer sent a malformed or unexpected frame."""


class GatewayGone(Exception):
    """Writing to the gateway failed: it closed its end."""


def frame(ftype, payload=b'', flags=0):
    """Encode one frame (payload must fit in MAX_PAYLOAD)."""
    return _pack(len(payload), ftype, flags, 0) + payload


def text_frame(ftype, text):
    """Encode a UTF-8 text frame, truncated to MAX_PAYLOAD."""
    data = text.encode('utf-8', 'replace')
    if len(data) > MAX_PAYLOAD:
        data = data[:MAX_PAYLOAD - 16] + b'\n[truncated]\n'
    return frame(ftype, data)


def body_frames(chunk, out, ftype=RESPONSE_BODY):
    """Append header/payload parts for a non-empty body chunk to `out`."""
    n = len(chunk)
    if n <= MAX_PAYLOAD:
        out.append(_pack(n, ftype, 0, 0))
        out.append(chunk)
        return
    view = memoryview(chunk)
    for i in range(0, n, MAX_PAYLOAD):
        part = view[i:i + MAX_PAYLOAD]
        out.append(_pack(len(part), ftype, 0, 0))
        out.append(part)


class Connection:
    """A framed, blocking view of the worker's end of the socketpair."""

    def __init__(self, sock, bufsize=1 << 18):
        self.sock = sock
        self.buf = bytearray(bufsize)
        self.view = memoryview(self.buf)
        self.start = 0  # first unparsed byte
        self.end = 0    # end of received data
        self.eof = False
        self.stopping = False
        # The fatal error (ProtocolError, GatewayGone) once there is one: kept
        # here because an app may catch what it sees raised from its reads.
        self.failed = None
        self.pending = []      # reply frame parts waiting for the end of the batch
        self.pending_size = 0
        self.scanned = 0       # frames before this offset were scanned for RECLAIM
        self.reclaims = 0      # RECLAIM frames scanned but not yet read
        # Where open files go to the gateway (RESPONSE_FILE), once FILE_SOCKET gave it.
        self.file_sock = None
        # The gateway sends FILE_SOCKET first, so only the first read looks for
        # descriptors (recvmsg); later reads are plain and drop any (the kernel closes them).
        self.first_read = True
        self.received_fds = []

    def read_frame(self):
        """Return (type, flags, payload view) of the next gateway frame.

        The payload view is valid only until the next call. PING is answered
        here; STOP sets `stopping` and is returned to the caller. Raises
        EOFError when the gateway closed the socket.
        """
        if self.failed is not None:
            raise self.failed
        while True:
            avail = self.end - self.start
            if avail >= HEADER_SIZE:
                length, ftype, flags, _ = _unpack_from(self.buf, self.start)
                if avail >= HEADER_SIZE + length:
                    s = self.start + HEADER_SIZE
                    self.start = s + length
                    if self.start > self.scanned:
                        self.scanned = self.start
                    elif ftype == RECLAIM:
                        self.reclaims -= 1  # counted by look_ahead
                    if self.start == self.end:
                        self.start = self.end = self.scanned = 0
                    if ftype == PING:
                        self.sendall(frame(PONG, bytes(self.view[s:s + length])))
                        continue
                    if ftype == RECLAIM:
                        continue
                    if ftype == FILE_SOCKET:
                        self._take_file_socket()
                        continue
                    if ftype == STOP:
                        self.stopping = True
                    return ftype, flags, self.view[s:s + length]
                if length > MAX_PAYLOAD:
                    raise self.fail(ProtocolError(
                        'frame length %d exceeds MAX_PAYLOAD' % length))
                self._make_room(HEADER_SIZE + length)
            else:
                self._make_room(HEADER_SIZE)
            # Nothing complete is buffered: the batch is answered, send its replies.
            if self.pending:
                self.flush_pending()
            self._recv()

    def look_ahead(self):
        """Read what the gateway sent meanwhile, without blocking, and count the
        RECLAIM frames in it: `reclaims > 0` means the REQUESTs before the next
        RECLAIM must be answered with SKIPPED instead of being run."""
        if self.eof or self.failed is not None:
            return
        while True:
            self._make_room(self.end - self.start + 1)  # room for at least a byte
            try:
                n = self.sock.recv_into(self.view[self.end:], 0, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # the blocking read will see it
            if not n:
                break
            self.end += n
        pos, end, buf = self.scanned, self.end, self.buf
        while end - pos >= HEADER_SIZE:
            length, ftype, _, _ = _unpack_from(buf, pos)
            if end - pos < HEADER_SIZE + length:
                break
            if ftype == RECLAIM:
                self.reclaims += 1
            pos += HEADER_SIZE + length
        self.scanned = pos

    def queue(self, parts):
        """Queue a finished reply's frame parts; they are sent with the batch."""
        self.pending.extend(parts)
        self.pending_size += sum(map(len, parts))
        if self.pending_size >= _PENDING_LIMIT:
            self.flush_pending()

    def flush_pending(self):
        """Send the queued replies now."""
        if not self.pending:
            return
        parts = self.pending
        self.pending = []
        self.pending_size = 0
        self._send_parts(parts)

    def sendall(self, data):
        """Write data to the gateway, raising GatewayGone if it went away."""
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise self.fail(GatewayGone(str(exc))) from exc

    def fail(self, exc):
        """Record a fatal connection error and return it for raising."""
        if self.failed is None:
            self.failed = exc
        return exc

    def send_file(self, parts, fd, offset, length):
        """Pass `fd` to the gateway on the file socket, then send the queued
        replies, `parts` and RESPONSE_FILE: the descriptor is always waiting on
        the file socket when the gateway reads the frame."""
        try:
            socket.send_fds(self.file_sock, [b'\0'], [fd])
        except OSError as exc:
            raise self.fail(GatewayGone(str(exc))) from exc
        parts.append(_pack(FILE_REGION.size, RESPONSE_FILE, 0, 0)
                     + FILE_REGION.pack(offset, length))
        self.send_parts(parts)

    def _take_file_socket(self):
        if not self.received_fds:
            raise self.fail(ProtocolError('FILE_SOCKET frame without a descriptor'))
        fd = self.received_fds.pop(0)
        for extra in self.received_fds:
            _close(extra)
        self.received_fds = []
        if self.file_sock is not None:
            _close(fd)
            raise self.fail(ProtocolError('a second FILE_SOCKET frame'))
        self.file_sock = socket.socket(fileno=fd)

    def _recv(self):
        if self.eof:
            raise EOFError
        try:
            if self.first_read:
                self.first_read = False
                n = self._recv_with_fds()
            else:
                n = self.sock.recv_into(self.view[self.end:])
        except ConnectionResetError:
            n = 0
        if not n:
            self.eof = True
            raise EOFError
        self.end += n

    def _recv_with_fds(self):
        n, ancdata, _, _ = self.sock.recvmsg_into(
            [self.view[self.end:]], socket.CMSG_SPACE(4 * _INT.itemsize),
            socket.MSG_CMSG_CLOEXEC)
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array('i')
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                self.received_fds.extend(fds)
        return n

    def _make_room(self, need):
        """Ensure the frame at `start` (of `need` bytes) fits in the buffer."""
        size = len(self.buf)
        if self.start + need <= size:
            return
        avail = self.end - self.start
        self.scanned -= self.start
        if need <= size:
            self.buf[:avail] = self.buf[self.start:self.end]
        else:
            # Only for frames larger than the buffer; a new buffer because the
            # old one may still be exported through a payload view.
            buf = bytearray(max(need, 2 * size))
            buf[:avail] = self.view[self.start:self.end]
            self.buf = buf
            self.view = memoryview(buf)
        self.start = 0
        self.end = avail

    def send_parts(self, parts):
        """Send a list of frame parts now, after any queued replies."""
        if self.pending:
            parts = self.pending + parts
            self.pending = []
            self.pending_size = 0
        self._send_parts(parts)

    def _send_parts(self, parts):
        """Send a list of frame parts, coalescing small ones into one write."""
        if len(parts) == 1:
            self.sendall(parts[0])
        elif sum(map(len, parts)) <= 1 << 20:
            self.sendall(b''.join(parts))
        else:
            # Large bodies: no joined copy; big parts go out on their own.
            batch = []
            for p in parts:
                if len(p) >= 1 << 16:
                    if batch:
                        self.sendall(b''.join(batch))
                        batch = []
                    self.sendall(p)
                else:
                    batch.append(p)
            if batch:
                self.sendall(b''.join(batch))

"""wsgi.input: the request body, read lazily from BODY frames."""

from .protocol import BODY, BODY_END, STOP, ABORTED, ProtocolError


class RequestBody:
    """A read-only binary stream over the request's BODY frames.

    Frames are pulled from the socket only when the app reads, so a large
    upload never sits whole in memory and the socket gives backpressure.
    End of stream is BODY_END (PEP 3333 "Input and Error Streams": the server
    may return EOF at CONTENT_LENGTH; the gateway guarantees they coincide).
    """

    __slots__ = ('_conn', '_chunk', '_pos', '_done', '_error')

    def __init__(self, conn, has_body):
        self._conn = conn
        self._chunk = b''
        self._pos = 0
        self._done = not has_body
        self._error = None

    def _next_chunk(self):
        """Return the next body chunk, or b'' at the end of the body."""
        self._chunk, self._pos = b'', 0  # the caller consumed the current one
        if self._error is not None:
            raise OSError(self._error)
        if self._done:
            return b''
        conn = self._conn
        while True:
            try:
                ftype, flags, payload = conn.read_frame()
            except EOFError:
                self._done = True
                self._error = 'the gateway closed the connection'
                raise OSError(self._error) from None
            if ftype == BODY:
                return bytes(payload)
            if ftype == BODY_END:
                self._done = True
                if flags & ABORTED:
                    self._error = 'client disconnected before the request body was complete'
                    raise OSError(self._error)
                return b''
            if ftype != STOP:  # STOP is honoured after this request
                raise conn.fail(ProtocolError(
                    'unexpected frame type 0x%02x in a request body' % ftype))

    def read(self, size=-1):
        """Read up to `size` bytes (all remaining if size is None or negative)."""
        chunk, pos = self._chunk, self._pos
        if size is None or size < 0:
            parts = [chunk[pos:]] if pos < len(chunk) else []
            while True:
                chunk = self._next_chunk()
                if not chunk:
                    break
                parts.append(chunk)
            self._chunk, self._pos = b'', 0
            return b''.join(parts)
        if pos + size <= len(chunk):
            self._pos = pos + size
            return chunk[pos:pos + size]
        parts = [chunk[pos:]]
        need = size - (len(chunk) - pos)
        while True:
            chunk = self._next_chunk()
            if not chunk:
                self._chunk, self._pos = b'', 0
                break
            if len(chunk) < need:
                parts.append(chunk)
                need -= len(chunk)
                continue
            parts.append(chunk[:need] if need < len(chunk) else chunk)
            self._chunk, self._pos = chunk, need
            break
        return b''.join(parts)

    def readline(self, size=-1):
        """Read one line, up to `size` bytes if size is given."""
        if size is None:
            size = -1
        parts = []
        total = 0
        chunk, pos = self._chunk, self._pos
        while size < 0 or total < size:
            if pos >= len(chunk):
                chunk, pos = self._next_chunk(), 0
                if not chunk:
                    break
            end = chunk.find(b'\n', pos) + 1 or len(chunk)
            if size >= 0 and end - pos > size - total:
                end = pos + size - total
            parts.append(chunk[pos:end])
            total += end - pos
            pos = end
            if chunk[end - 1:end] == b'\n':
                break
        self._chunk, self._pos = chunk, pos
        return parts[0] if len(parts) == 1 else b''.join(parts)

    def readlines(self, hint=-1):
        """Read lines until EOF, or until about `hint` bytes were read."""
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readable(self):
        """Return True (this is a readable stream)."""
        return True

    def close(self):
        """Do nothing: the server owns the stream (PEP 3333)."""

    def drain(self):
        """Discard the rest of the body, up to BODY_END."""
        while not self._done:
            try:
                self._next_chunk()
            except OSError:
                pass

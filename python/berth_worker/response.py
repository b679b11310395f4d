"""start_response, write() and sending of the response iterable."""

import io
import os
import stat

from .environ import FileWrapper
from .protocol import (HEADER, MAX_PAYLOAD, RESPONSE_START, APP_ERROR, END_FRAME,
                       body_frames, text_frame)
from .speedups import native

_pack = HEADER.pack
_FILE_BLOCK = 1 << 16


def encode_start_py(status, headers):
    """Validate status and headers (PEP 3333) and encode a RESPONSE_START frame."""
    if type(status) is not str:
        raise TypeError('status must be str, not %s' % type(status).__name__)
    code = status[:3]
    if len(status) < 4 or status[3] != ' ' or not (code.isascii() and code.isdigit()) \
            or code[0] == '0':
        raise ValueError("status must look like '200 OK', got %r" % (status,))
    if type(headers) is not list and type(headers) is not tuple:
        raise TypeError('response headers must be a list, not %s' % type(headers).__name__)
    flat = [status]
    append = flat.append
    for name, value in headers:
        if type(name) is not str or type(value) is not str:
            raise TypeError('header name and value must be str: %r' % ((name, value),))
        if not name or ':' in name:
            raise ValueError('bad header name: %r' % (name,))
        append(name)
        append(value)
    text = '\0'.join(flat)
    # One scan of the joined block instead of per-header checks: no NUL
    # (the block's separator), CR or LF may appear inside a field.
    if text.count('\0') != len(flat) - 1 or '\n' in text or '\r' in text:
        raise ValueError('status or header contains NUL, CR or LF: %r' % (flat,))
    try:
        payload = text.encode('latin-1') + b'\0'
    except UnicodeEncodeError:
        raise ValueError('headers must be latin-1 strings (PEP 3333): %r' % (flat,)) from None
    if len(payload) > MAX_PAYLOAD:
        raise ValueError('response headers too large')
    return _pack(len(payload), RESPONSE_START, 0, 0) + payload


if native is not None:
    _encode_start_c = native.encode_start

    def encode_start(status, headers):
        """Validate status and headers (PEP 3333) and encode a RESPONSE_START frame."""
        # The C version handles valid input; for anything else it returns None and
        # the Python version raises the error.
        return _encode_start_c(status, headers) or encode_start_py(status, headers)
else:
    encode_start = encode_start_py


def _check_bytes(chunk):
    if not isinstance(chunk, bytes):
        raise TypeError('response body chunks must be bytes, not %s' % type(chunk).__name__)


class Response:
    """The response side of one request."""

    __slots__ = ('conn', 'head', 'start', 'started', 'out', 'args')

    def __init__(self, conn, head):
        self.conn = conn
        self.head = head        # HEAD: run the app, send no RESPONSE_BODY
        self.start = None       # encoded RESPONSE_START, pending until sent
        self.started = False    # RESPONSE_START queued or sent
        self.out = []           # frame parts not yet written
        self.args = None        # (status, headers) of the last start_response

    def start_response(self, status, headers, exc_info=None):
        """The PEP 3333 start_response callable."""
        if exc_info:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # PEP 3333: avoid a frame <-> traceback cycle
        elif self.start is not None:
            raise RuntimeError('start_response() called twice without exc_info')
        self.start = encode_start(status, headers)
        self.args = (status, headers)
        return self.write

    def write(self, data):
        """The PEP 3333 write() callable: send headers, then data, now."""
        _check_bytes(data)
        if not self.started:
            self._emit_start()
        if data and not self.head:
            body_frames(data, self.out)
        self.flush()

    def _emit_start(self):
        if self.start is None:
            raise RuntimeError('the app produced a body before calling start_response()')
        self.started = True
        self.out.append(self.start)

    def flush(self):
        """Write the queued frames."""
        if self.out:
            self.conn.send_parts(self.out)
            self.out = []

    def send_body(self, result):
        """Iterate the app's result and queue or send its body frames."""
        out = self.out
        head = self.head
        if type(result) is list or type(result) is tuple \
                or getattr(result, 'streaming', True) is False:
            # Already in memory (Django's HttpResponse has streaming=False):
            # queue it all so that finish() sends START+BODY+END in one write.
            for chunk in result:
                _check_bytes(chunk)
                if chunk:
                    if not self.started:
                        self._emit_start()
                    if not head:
                        body_frames(chunk, out)
            return
        if type(result) is FileWrapper:
            if self.conn.file_sock is not None and self._send_file(result.filelike):
                return
            if head:
                return
            result = result.blocks(max(result.blksize, _FILE_BLOCK))
        for chunk in result:
            _check_bytes(chunk)
            if chunk:
                if not self.started:
                    self._emit_start()
                if not head:
                    body_frames(chunk, self.out)
                # PEP 3333 "Buffering and Streaming": a block is transmitted
                # before the next one is requested.
                self.flush()

    def _send_file(self, f):
        """Pass a regular file's descriptor to the gateway (RESPONSE_FILE) for
        the body from the file's current position, up to the app's
        Content-Length (PEP 3333, "Optional Platform-Specific File Handling").
        False when the file cannot go that way: the caller then reads it."""
        if self.start is None or self.started or isinstance(f, io.TextIOBase):
            return False
        try:
            fd = f.fileno()
            if type(fd) is not int:
                return False
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return False
            # tell() counts what a buffered reader has read ahead.
            tell = getattr(f, 'tell', None)
            offset = tell() if tell is not None else os.lseek(fd, 0, os.SEEK_CUR)
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation too
            return False
        status, headers = self.args
        code = int(status[:3])
        if code < 200 or code in (204, 304):
            self._emit_start()  # no body (RFC 9110 §6.4.1): nothing to read or pass
            return True
        available = max(0, info.st_size - offset)
        declared = None
        for name, value in headers:
            if name.lower() == 'content-length':
                try:
                    declared = int(value)
                except ValueError:
                    return False
        if declared is None:
            # The length is known: say it, so HTTP/1 needs no chunked coding.
            length = available
            self.start = encode_start(status, list(headers) + [('Content-Length', str(length))])
        elif 0 <= declared <= available:
            length = declared
        else:
            return False  # a file shorter than promised: stream what there is, as before
        self._emit_start()
        if length and not self.head:
            parts = self.out
            self.out = []
            self.conn.send_file(parts, fd, offset, length)
        return True

    def finish(self):
        """Queue RESPONSE_START if still pending, then RESPONSE_END: the frames
        go out with the batch's other replies (Connection.queue)."""
        if not self.started:
            self._emit_start()
        self.out.append(END_FRAME)
        self.conn.queue(self.out)
        self.out = []

    def fail(self, text):
        """Drop queued frames and end the request with APP_ERROR."""
        self.conn.queue([text_frame(APP_ERROR, text)])
        self.out = []

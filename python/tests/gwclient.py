"""A minimal gateway for tests: starts a real worker and speaks the protocol to it.

Frame codes are spelled out here from docs/worker-protocol.md rather than imported
from berth_worker, so the tests also check the worker against the spec.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading

HDR = struct.Struct('!IBBH')
REQUEST, BODY, BODY_END, PING, STOP = 0x01, 0x02, 0x03, 0x10, 0x11
READY, BOOT_ERROR, START, RBODY, END, APP_ERROR, PONG = range(0x20, 0x27)
FILE_SOCKET, RFILE = 0x05, 0x29
FILE_REGION = struct.Struct('!QQ')
HAS_BODY = ABORTED = 0x01

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(TESTS_DIR)
APPS_DIR = os.path.join(TESTS_DIR, 'apps')

# The worker's entry as berth runs it: `python -c BOOTSTRAP` (see berth_worker/__main__.py).
BOOTSTRAP = 'from berth_worker.__main__ import launch; launch()'

# Puts the socket on fd 3 in the worker, as the real gateway does.
TRAMPOLINE = ('import os, sys; n = int(sys.argv[1]); os.dup2(n, 3); n != 3 and os.close(n); '
              'os.execv(sys.executable, [sys.executable] + sys.argv[2:])')


class Response:
    """What the worker sent for one request."""

    def __init__(self):
        self.status = None
        self.headers = []
        self.body = b''
        self.error = None     # APP_ERROR text
        self.frames = []      # frame types in order
        self.files = []       # (offset, length, fstat) of each RESPONSE_FILE

    def __repr__(self):
        return '<Response %s %r error=%r>' % (self.status, self.body[:80], self.error)


class Worker:
    """A worker subprocess and the gateway end of its socketpair."""

    def __init__(self, *args, chdir=APPS_DIR, env=None, ready=True, python_flags=()):
        self.sock, theirs = socket.socketpair()
        self.log = tempfile.TemporaryFile('a+b')  # O_APPEND: our seeks never race its writes
        cmd = [sys.executable, '-c', TRAMPOLINE, str(theirs.fileno()), *python_flags,
               '-c', BOOTSTRAP, '--fd', '3', *args]
        if chdir:
            cmd += ['--chdir', chdir]
        full_env = dict(os.environ, PYTHONPATH=PYTHON_DIR, **(env or {}))
        self.proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], env=full_env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        theirs.close()
        self.sock.settimeout(30)
        self.buf = b''
        self.sender = None
        self.next_id = 0
        self.files = None     # our end of the file socket, after offer_file_socket()
        try:
            self.facts = self.expect(READY) if ready else None
        except BaseException:
            self.close()
            raise

    # -- framing ------------------------------------------------------------
    def send(self, ftype, payload=b'', flags=0):
        """Send one frame (after any body still being sent)."""
        self.join_sender()
        self.sock.sendall(HDR.pack(len(payload), ftype, flags, 0) + payload)

    def offer_file_socket(self):
        """Send FILE_SOCKET with the worker's end of a new socketpair attached,
        as the gateway does first (here after READY: the worker has not read yet)."""
        self.files, theirs = socket.socketpair()
        socket.send_fds(self.sock, [HDR.pack(0, FILE_SOCKET, 0, 0)], [theirs.fileno()])
        theirs.close()
        self.files.settimeout(30)

    def take_fd(self):
        """The next descriptor waiting on the file socket."""
        data, fds, _, _ = socket.recv_fds(self.files, 1, 4)
        assert data == b'\0' and len(fds) == 1, (data, fds)
        return fds[0]

    def recv_frame(self):
        """Return (type, flags, payload); EOFError when the worker closed."""
        while True:
            if len(self.buf) >= 8:
                length, ftype, flags, reserved = HDR.unpack_from(self.buf)
                assert reserved == 0
                if len(self.buf) >= 8 + length:
                    payload, self.buf = self.buf[8:8 + length], self.buf[8 + length:]
                    return ftype, flags, payload
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError('worker closed the socket')
            self.buf += data

    def expect(self, ftype):
        """Receive one frame of the given type; decode READY as JSON."""
        got, _, payload = self.recv_frame()
        assert got == ftype, 'expected 0x%02x, got 0x%02x %r' % (ftype, got, payload[:500])
        return json.loads(payload) if ftype == READY else payload

    # -- requests -----------------------------------------------------------
    def environ_block(self, method, path, query, headers, body):
        self.next_id += 1
        env = {'REQUEST_METHOD': method, 'SCRIPT_NAME': '', 'PATH_INFO': path,
               'QUERY_STRING': query, 'SERVER_NAME': 'testserver', 'SERVER_PORT': '80',
               'SERVER_PROTOCOL': 'HTTP/1.1', 'REMOTE_ADDR': '127.0.0.1',
               'REMOTE_PORT': '40000', 'wsgi.url_scheme': 'http',
               'berth.request_id': str(self.next_id), 'HTTP_HOST': 'testserver'}
        if body is not None:
            env['CONTENT_TYPE'] = 'application/octet-stream'
            if isinstance(body, bytes):
                env['CONTENT_LENGTH'] = str(len(body))
        env.update(headers or {})
        return ''.join('%s\0%s\0' % kv for kv in env.items()).encode('latin-1')

    def send_request(self, path='/', method='GET', query='', headers=None, body=None,
                     chunk=65536, aborted=False, end=True):
        """Send REQUEST and, in a background thread, the body frames.

        body: bytes (split in `chunk`-sized frames), an iterable of chunks, or
        None for no body. end=False leaves the body open (send BODY_END yourself).
        """
        flags = HAS_BODY if body is not None else 0
        self.send(REQUEST, self.environ_block(method, path, query, headers, body), flags)
        if body is None:
            return
        if isinstance(body, bytes):
            body = [body[i:i + chunk] for i in range(0, len(body), chunk)]
        self.sender = threading.Thread(target=self._send_body, args=(body, aborted, end),
                                       daemon=True)
        self.sender.start()

    def _send_body(self, chunks, aborted, end):
        try:
            for c in chunks:
                self.sock.sendall(HDR.pack(len(c), BODY, 0, 0) + c)
            if end:
                self.sock.sendall(HDR.pack(0, BODY_END, ABORTED if aborted else 0, 0))
        except OSError:
            pass  # the worker went away; the test will notice

    def join_sender(self):
        if self.sender is not None:
            self.sender.join(60)
            self.sender = None

    def read_response(self):
        """Read frames up to RESPONSE_END or APP_ERROR."""
        r = Response()
        while True:
            ftype, _, payload = self.recv_frame()
            r.frames.append(ftype)
            if ftype == START:
                assert r.status is None, 'two RESPONSE_START frames'
                assert payload.endswith(b'\0'), payload
                fields = payload[:-1].decode('latin-1').split('\0')
                r.status = fields[0]
                r.headers = list(zip(fields[1::2], fields[2::2]))
            elif ftype == RBODY:
                assert payload, 'empty RESPONSE_BODY'
                assert r.status is not None, 'body before RESPONSE_START'
                r.body += payload
            elif ftype == RFILE:
                assert r.status is not None, 'file before RESPONSE_START'
                offset, length = FILE_REGION.unpack(payload)
                fd = self.take_fd()
                try:
                    r.files.append((offset, length, os.fstat(fd)))
                    r.body += os.pread(fd, length, offset)
                finally:
                    os.close(fd)
            elif ftype == END:
                return r
            elif ftype == APP_ERROR:
                r.error = payload.decode('utf-8')
                return r
            else:
                raise AssertionError('unexpected frame 0x%02x in a response' % ftype)

    def request(self, path='/', **kw):
        """Send a request and return its Response."""
        self.send_request(path, **kw)
        r = self.read_response()
        self.join_sender()
        return r

    # -- process ------------------------------------------------------------
    def wait(self, timeout=20):
        """Wait for the worker to exit and return its exit status."""
        return self.proc.wait(timeout)

    def output(self):
        """Everything the worker wrote to stdout/stderr so far."""
        self.log.seek(0)
        return self.log.read().decode('utf-8', 'replace')

    def rss_peak_kb(self):
        """The worker's peak resident set size (VmHWM) in KiB."""
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
        raise AssertionError('no VmHWM')

    def close(self):
        """Close our end and make sure the process is gone."""
        self.join_sender()
        self.sock.close()
        if self.files is not None:
            self.files.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

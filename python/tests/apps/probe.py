"""A test app with one behaviour per path; `validated` wraps it in wsgiref.validate."""

import hashlib
import json
import os
import sys
import time
import warnings
from wsgiref.validate import WSGIWarning, validator

# Validator warnings are violations too: make them raise (-> APP_ERROR).
warnings.simplefilter('error', WSGIWarning)

TEXT = [('Content-Type', 'text/plain')]
CLOSED = []  # paths whose response iterable was closed, reported by /closes


def pattern(i, size):
    """Deterministic chunk i of a streamed response."""
    return bytes([65 + i % 26]) * size


def query(environ):
    return dict(p.split('=', 1) for p in environ['QUERY_STRING'].split('&') if '=' in p)


def read_body(environ, mode):
    """Read wsgi.input the way `mode` says; return the pieces read."""
    inp = environ['wsgi.input']
    if mode == 'all':
        return [inp.read(-1)]
    if mode == 'length':
        return [inp.read(int(environ.get('CONTENT_LENGTH') or 0))]
    if mode == 'partial':
        return [inp.read(3)]
    if mode == 'chunks':
        pieces = []
        while True:
            data = inp.read(5)
            if not data:
                return pieces
            pieces.append(data)
    if mode == 'lines':
        pieces = []
        while True:
            line = inp.readline()
            if not line:
                return pieces
            pieces.append(line)
    if mode == 'sized_lines':
        pieces = []
        while True:
            line = inp.readline(4)
            if not line:
                return pieces
            pieces.append(line)
    if mode == 'readlines':
        return inp.readlines()
    if mode == 'iter':
        return list(inp)
    return []  # 'none': never touch the body


def describe(environ):
    """A JSON-able view of environ: str values as is, others by type."""
    out = {k: v if isinstance(v, str) else type(v).__name__ for k, v in environ.items()}
    out['wsgi.version'] = list(environ['wsgi.version'])
    for key in ('wsgi.multithread', 'wsgi.multiprocess', 'wsgi.run_once'):
        out[key] = environ[key]
    return out


def router(environ, start_response):
    path = environ['PATH_INFO']
    q = query(environ)
    if path.startswith('/environ'):
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps(describe(environ)).encode()]
    if path == '/echo':
        pieces = read_body(environ, q.get('mode', 'all'))
        start_response('200 OK', TEXT)
        return [b'|'.join(pieces)]
    if path == '/sha':
        inp, h, total, biggest = environ['wsgi.input'], hashlib.sha256(), 0, 0
        while True:
            data = inp.read(65536)
            if not data:
                break
            h.update(data)
            total += len(data)
            biggest = max(biggest, len(data))
        start_response('200 OK', TEXT)
        return [('%s %d %d' % (h.hexdigest(), total, biggest)).encode()]
    if path == '/abort':
        got = b''
        try:
            while True:
                data = environ['wsgi.input'].read(4)
                if not data:
                    break
                got += data
            result = 'no error'
        except OSError as exc:
            result = 'OSError: %s' % exc
        start_response('200 OK', TEXT)
        return [('%s after %r' % (result, got)).encode()]
    if path == '/stream':
        return stream(start_response, int(q.get('n', 3)), int(q.get('size', 10)))
    if path == '/big':
        start_response('200 OK', TEXT)
        return [b'x' * int(q['size'])]
    if path == '/write':
        write = start_response('200 OK', TEXT)
        write(b'one,')
        write(b'')
        write(b'two,')
        return [b'three']
    if path == '/empty':
        start_response('204 No Content', [])
        return []
    if path == '/exc_info':
        start_response('200 OK', TEXT + [('X-First', '1')])
        try:
            raise ValueError('replaced')
        except ValueError:
            start_response('500 Internal Server Error', TEXT + [('X-Replaced', '1')],
                           sys.exc_info())
        return [b'replaced']
    if path == '/exc_info_late':
        return exc_info_late(start_response)
    if path == '/file':
        start_response('200 OK', TEXT)
        return environ['wsgi.file_wrapper'](open(__file__, 'rb'), int(q.get('blksize', 1000)))
    if path == '/error_before':
        raise RuntimeError('boom before start_response')
    if path == '/error_after_start':
        start_response('200 OK', TEXT)
        raise RuntimeError('boom after start_response')
    if path == '/error_in_body':
        return error_in_body(start_response)
    if path == '/stderr':
        environ['wsgi.errors'].write('message-from-app\n')
        environ['wsgi.errors'].flush()
        start_response('200 OK', TEXT)
        return [b'logged']
    if path == '/closes':
        start_response('200 OK', [('Content-Type', 'application/json')])
        closed = CLOSED[:]
        del CLOSED[:]
        return [json.dumps(closed).encode()]
    if path == '/id':
        start_response('200 OK', TEXT)
        return [environ['berth.request_id'].encode()]
    if path == '/exit':
        os._exit(7)  # dies mid-request, as a crashing C extension would
    if path == '/sleep':
        time.sleep(float(q.get('s', '0.1')))
        start_response('200 OK', TEXT)
        return [environ['berth.request_id'].encode()]
    if path == '/pid':
        start_response('200 OK', TEXT)
        return [str(os.getpid()).encode()]
    if path == '/speedups':  # which path the worker runs: C or pure Python
        native = sys.modules['berth_worker.speedups'].native
        start_response('200 OK', TEXT)
        return [b'c' if native is not None else b'python']
    return misbehave(environ, start_response, path) or not_found(start_response)


def misbehave(environ, start_response, path):
    """PEP 3333 violations the worker must turn into APP_ERROR (plain app only)."""
    if path == '/bad_status':
        start_response('OK', TEXT)
    elif path == '/twice':
        start_response('200 OK', TEXT)
        start_response('200 OK', TEXT)
    elif path == '/str_body':
        start_response('200 OK', TEXT)
        return ['not bytes']
    elif path == '/no_start':
        return [b'body without start_response']
    elif path == '/latin1_header':
        start_response('200 OK', [('X-Snow', '\u2603')])
    elif path == '/nul_header':
        start_response('200 OK', [('X-Nul', 'a\0b')])
    elif path == '/crlf_header':
        start_response('200 OK', [('X-Split', 'a\r\nX-Injected: 1')])
    elif path == '/int_header':
        start_response('200 OK', [('Content-Length', 5)])
    else:
        return None
    return [b'should not be sent']


def not_found(start_response):
    start_response('404 Not Found', TEXT)
    return [b'not found']


def stream(start_response, n, size):
    start_response('200 OK', TEXT)
    for i in range(n):
        yield pattern(i, size)


def error_in_body(start_response):
    start_response('200 OK', TEXT)
    yield b'partial'
    raise RuntimeError('boom in body')


def exc_info_late(start_response):
    start_response('200 OK', TEXT)
    yield b'sent'
    try:
        raise ValueError('too late to replace')
    except ValueError:
        start_response('500 Internal Server Error', TEXT, sys.exc_info())
    yield b'never'


class Closing:
    """Records close() of the response it wraps (PEP 3333 says it must happen)."""

    def __init__(self, result, path):
        self.result = result
        self.path = path

    def __iter__(self):
        return iter(self.result)

    def close(self):
        CLOSED.append(self.path)
        marker = os.environ.get('PROBE_CLOSE_MARKER')
        if marker:
            with open(marker, 'a') as f:
                f.write(self.path + '\n')
        if hasattr(self.result, 'close'):
            self.result.close()


def app(environ, start_response):
    return Closing(router(environ, start_response), environ['PATH_INFO'])


validated = validator(app)

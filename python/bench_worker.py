"""Rough throughput of one worker for a hello app, with this script as the gateway.

Usage: python3 python/bench_worker.py [--seconds 3] [--depth 1]
Information only: the figure includes this client's own Python overhead.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from berth_worker.protocol import (HEADER, REQUEST, READY, RESPONSE_END,  # noqa: E402
                                   APP_ERROR, frame)

HELLO = '''
def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '13')])
    return [b'Hello, world!']
'''

ENVIRON = {
    'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '', 'PATH_INFO': '/', 'QUERY_STRING': '',
    'SERVER_NAME': 'localhost', 'SERVER_PORT': '8000', 'SERVER_PROTOCOL': 'HTTP/1.1',
    'REMOTE_ADDR': '127.0.0.1', 'REMOTE_PORT': '50000', 'wsgi.url_scheme': 'http',
    'berth.request_id': '1', 'HTTP_HOST': 'localhost:8000', 'HTTP_USER_AGENT': 'bench',
    'HTTP_ACCEPT': '*/*',
}


class Reader:
    """Counts RESPONSE_END frames in the worker's output."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def frames(self):
        """Yield (type, payload) of frames as they arrive."""
        while True:
            while len(self.buf) >= 8:
                length, ftype, _, _ = HEADER.unpack_from(self.buf)
                if len(self.buf) < 8 + length:
                    break
                payload = self.buf[8:8 + length]
                self.buf = self.buf[8 + length:]
                yield ftype, payload
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self.buf += data


def main():
    """Run the benchmark and print requests/s."""
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=3.0)
    ap.add_argument('--depth', type=int, default=1, help='requests in flight')
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, 'hello_bench.py'), 'w') as f:
        f.write(HELLO)
    gw, wk = socket.socketpair()
    env = dict(os.environ, PYTHONPATH=HERE)
    proc = subprocess.Popen(
        [sys.executable, '-m', 'berth_worker', '--fd', str(wk.fileno()),
         '--app', 'hello_bench:app', '--chdir', tmp], pass_fds=[wk.fileno()], env=env)
    wk.close()
    block = ''.join(k + '\0' + v + '\0' for k, v in ENVIRON.items()).encode('latin-1')
    req = frame(REQUEST, block)
    frames = Reader(gw).frames()
    ftype, payload = next(frames)
    assert ftype == READY, payload
    done = 0
    deadline = time.perf_counter() + args.seconds
    start = time.perf_counter()
    gw.sendall(req * args.depth)
    for ftype, payload in frames:
        if ftype == RESPONSE_END:
            done += 1
            if done % 256 == 0 and time.perf_counter() > deadline:
                break
            gw.sendall(req)
        elif ftype == APP_ERROR:
            sys.exit(payload.decode())
    elapsed = time.perf_counter() - start
    gw.close()
    proc.wait()
    print('%d requests in %.2fs: %.0f requests/s (depth %d)'
          % (done, elapsed, done / elapsed, args.depth))


if __name__ == '__main__':
    main()

"""In-process checks of frame parsing and wsgi.input against io.BytesIO semantics."""

import io
import os
import random
import socket
import struct
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from berth_worker.protocol import Connection, ProtocolError  # noqa: E402
from berth_worker.wsgi_input import RequestBody  # noqa: E402

BODY, BODY_END, PING, PONG = 0x02, 0x03, 0x10, 0x26


def frame(ftype, payload=b'', flags=0):
    return struct.pack('!IBBH', len(payload), ftype, flags, 0) + payload


class InputTest(unittest.TestCase):

    def body(self, chunks, bufsize=64, flags=0):
        """A RequestBody reading `chunks` through a real socket and Connection."""
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        data = b''.join(frame(BODY, c) for c in chunks) + frame(BODY_END, flags=flags)
        sender = threading.Thread(target=theirs.sendall, args=(data,))
        sender.start()
        self.addCleanup(sender.join)
        conn = Connection(ours, bufsize=bufsize)
        return conn, RequestBody(conn, True)

    def test_random_operations_match_bytesio(self):
        rng = random.Random(1234)
        for trial in range(300):
            data = b''.join(rng.choice([b'a', b'bc', b'\n', b'line\n', b'xyz' * 7])
                            for _ in range(rng.randrange(0, 60)))
            k = min(max(len(data) - 1, 0), rng.randrange(6))
            cuts = sorted(rng.sample(range(1, len(data)), k)) if k else []
            chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)]) if data[a:b]]
            _, got = self.body(chunks, bufsize=rng.choice([8, 16, 64, 4096]))
            ref = io.BytesIO(data)
            ops = []
            for _ in range(rng.randrange(1, 12)):
                op = rng.choice(['read', 'readn', 'readnone', 'readline', 'readlinen',
                                 'readlines', 'readlineshint', 'next'])
                n = rng.randrange(0, 20)
                ops.append((op, n))
                self.assertEqual(self.apply(got, op, n), self.apply(ref, op, n),
                                 'trial %d, chunks %r, ops %r' % (trial, chunks, ops))

    @staticmethod
    def apply(stream, op, n):
        if op == 'read':
            return stream.read()
        if op == 'readn':
            return stream.read(n)
        if op == 'readnone':
            return stream.read(None)
        if op == 'readline':
            return stream.readline()
        if op == 'readlinen':
            return stream.readline(n)
        if op == 'readlines':
            return stream.readlines()
        if op == 'readlineshint':
            return stream.readlines(n)
        return next(stream, None)

    def test_ping_inside_body_is_answered(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        theirs.sendall(frame(BODY, b'ab') + frame(PING, b'hi') + frame(BODY, b'cd')
                       + frame(BODY_END))
        body = RequestBody(Connection(ours, bufsize=16), True)
        self.assertEqual(body.read(), b'abcd')
        self.assertEqual(theirs.recv(100), frame(PONG, b'hi'))

    def test_large_frame_grows_the_buffer(self):
        big = os.urandom(100000)
        conn, body = self.body([b'x', big, b'y'], bufsize=32)
        self.assertEqual(body.read(), b'x' + big + b'y')
        self.assertGreaterEqual(len(conn.buf), 100008)

    def test_aborted(self):
        _, body = self.body([b'abc'], flags=1)
        self.assertEqual(body.read(2), b'ab')
        self.assertRaises(OSError, body.read, 5)
        self.assertRaises(OSError, body.read)  # the error sticks
        body.drain()

    def test_empty_body(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        body = RequestBody(Connection(ours), False)  # never touches the socket
        self.assertEqual((body.read(), body.readline(), body.readlines(), list(body)),
                         (b'', b'', [], []))

    def test_unexpected_frame_is_fatal(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        theirs.sendall(frame(BODY, b'a') + frame(0x01, b'x'))
        conn = Connection(ours)
        body = RequestBody(conn, True)
        self.assertRaises(ProtocolError, body.read)
        self.assertIsInstance(conn.failed, ProtocolError)


if __name__ == '__main__':
    unittest.main()

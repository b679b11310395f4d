"""Several requests in flight: batched reads and writes, ordering, RECLAIM/SKIPPED."""

import socket
import time
import unittest

from gwclient import END, HDR, REQUEST, START, Worker

RECLAIM, SKIPPED = 0x04, 0x27


def request_frame(w, path, query=''):
    block = w.environ_block('GET', path, query, {}, None)
    return HDR.pack(len(block), REQUEST, 0, 0) + block


class BatchTest(unittest.TestCase):

    def setUp(self):
        self.w = Worker('--app', 'probe:app')
        self.addCleanup(self.w.close)

    def read_until(self, count):
        """Read `count` replies; return their (first frame type, body) in order."""
        out = []
        for _ in range(count):
            ftype, _, payload = self.w.recv_frame()
            if ftype == SKIPPED:
                out.append(('skipped', None))
                continue
            self.assertEqual(ftype, START)
            body = b''
            while True:
                ftype, _, payload = self.w.recv_frame()
                if ftype == END:
                    break
                body += payload
            out.append(('ok', body))
        return out

    def test_a_batch_is_answered_in_order(self):
        w = self.w
        w.sock.sendall(b''.join(request_frame(w, '/id') for _ in range(16)))
        self.assertEqual(self.read_until(16), [('ok', str(i).encode()) for i in range(1, 17)])

    def test_replies_are_sent_before_the_next_request_starts(self):
        """A request that kills the worker loses no earlier reply: the gateway
        must know which requests ran and which never started."""
        w = self.w
        w.sock.sendall(request_frame(w, '/id') + request_frame(w, '/id')
                       + request_frame(w, '/exit') + request_frame(w, '/id'))
        self.assertEqual(self.read_until(2), [('ok', b'1'), ('ok', b'2')])
        with self.assertRaises(EOFError):
            w.recv_frame()
        self.assertEqual(w.wait(), 7)

    def test_frames_split_across_reads(self):
        w = self.w
        stream = b''.join(request_frame(w, '/id') for _ in range(20))
        # Odd-sized pieces cut headers and payloads at every position.
        for i in range(0, len(stream), 7):
            w.sock.sendall(stream[i:i + 7])
            if i % 49 == 0:
                time.sleep(0.001)
        self.assertEqual(self.read_until(20), [('ok', str(i).encode()) for i in range(1, 21)])

    def test_replies_before_a_slow_request_are_not_held_back(self):
        w = self.w
        w.sock.sendall(request_frame(w, '/id') + request_frame(w, '/sleep', 's=1.5'))
        started = time.monotonic()
        self.assertEqual(self.read_until(1), [('ok', b'1')])
        self.assertLess(time.monotonic() - started, 0.5)  # not after the 1.5 s request
        self.assertEqual(self.read_until(1), [('ok', b'2')])

    def test_reclaim_skips_the_requests_not_yet_started(self):
        w = self.w
        w.sock.sendall(request_frame(w, '/sleep', 's=0.3') + request_frame(w, '/id')
                       + request_frame(w, '/id'))
        time.sleep(0.1)  # the worker holds all three and runs the first
        w.sock.sendall(HDR.pack(0, RECLAIM, 0, 0) + request_frame(w, '/id'))
        self.assertEqual(self.read_until(4),
                         [('ok', b'1'), ('skipped', None), ('skipped', None), ('ok', b'4')])
        # It still serves normally afterwards.
        self.assertEqual(w.request('/id').body, b'5')

    def test_reclaim_after_the_requests_ran_is_a_no_op(self):
        w = self.w
        w.sock.sendall(request_frame(w, '/id') + request_frame(w, '/id'))
        self.assertEqual(self.read_until(2), [('ok', b'1'), ('ok', b'2')])
        w.sock.sendall(HDR.pack(0, RECLAIM, 0, 0) + request_frame(w, '/id'))
        self.assertEqual(self.read_until(1), [('ok', b'3')])

    def test_app_errors_inside_a_batch_keep_the_order(self):
        w = self.w
        w.sock.sendall(request_frame(w, '/id') + request_frame(w, '/error_before')
                       + request_frame(w, '/id'))
        self.assertEqual(w.read_response().body, b'1')
        self.assertIsNotNone(w.read_response().error)
        self.assertEqual(w.read_response().body, b'3')


if __name__ == '__main__':
    unittest.main()

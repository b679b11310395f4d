"""Request bodies over the socket: streaming, draining, aborting, bounded memory."""

import hashlib
import os
import unittest

from gwclient import BODY, BODY_END, ABORTED, Worker


class BodyTest(unittest.TestCase):

    def setUp(self):
        self.w = Worker('--app', 'probe:app')
        self.addCleanup(self.w.close)

    def test_drain_when_the_app_ignores_the_body(self):
        body = os.urandom(3 << 20)
        r = self.w.request('/echo', method='POST', query='mode=none', body=body)
        self.assertEqual((r.status, r.body), ('200 OK', b''))
        self.assertEqual(self.w.request('/id').body, str(self.w.next_id).encode())

    def test_drain_after_partial_read_and_after_app_error(self):
        r = self.w.request('/echo', method='POST', query='mode=partial', body=b'x' * 500000)
        self.assertEqual(r.body, b'xxx')
        r = self.w.request('/error_before', method='POST', body=b'y' * 500000)
        self.assertIsNotNone(r.error)
        self.assertEqual(self.w.request('/echo', method='POST', body=b'next').body, b'next')

    def test_response_does_not_wait_for_the_body(self):
        # The app answers after reading 3 bytes; BODY_END has not been sent yet.
        self.w.send_request('/echo', method='POST', query='mode=partial', body=[b'abcdef'],
                            end=False)
        self.assertEqual(self.w.read_response().body, b'abc')
        self.w.send(BODY, b'more')
        self.w.send(BODY_END)
        self.assertEqual(self.w.request('/id').body, str(self.w.next_id).encode())

    def test_aborted_body_raises_oserror(self):
        r = self.w.request('/abort', method='POST', body=b'abcdefgh', aborted=True)
        self.assertEqual(r.body.decode(), 'OSError: client disconnected before the request '
                                          "body was complete after b'abcdefgh'")
        self.assertEqual(self.w.request('/id').body, str(self.w.next_id).encode())

    def test_aborted_body_not_read_is_drained(self):
        r = self.w.request('/echo', method='POST', query='mode=none', body=b'z' * 1000,
                           aborted=True)
        self.assertEqual(r.body, b'')
        self.assertEqual(self.w.request('/id').body, str(self.w.next_id).encode())

    def test_aborted_frame_flags(self):
        self.w.send_request('/echo', method='POST', body=[b'ab'], end=False)
        self.w.send(BODY_END, flags=ABORTED)
        r = self.w.read_response()
        self.assertIn('OSError: client disconnected', r.error)

    def test_20mb_upload_streams_with_bounded_memory(self):
        chunk = 64 << 10
        blocks = [os.urandom(chunk) for _ in range(8)]
        n = (20 << 20) // chunk
        expected = hashlib.sha256()
        for i in range(n):
            expected.update(blocks[i % 8])
        self.w.request('/id')  # warm up before taking the baseline
        before = self.w.rss_peak_kb()
        r = self.w.request('/sha', method='POST', body=(blocks[i % 8] for i in range(n)))
        growth_kb = self.w.rss_peak_kb() - before
        digest, total, biggest = r.body.decode().split()
        self.assertEqual((digest, int(total), int(biggest)),
                         (expected.hexdigest(), 20 << 20, chunk))
        self.assertLess(growth_kb, 15 << 10, 'peak RSS grew by %d KiB' % growth_kb)


if __name__ == '__main__':
    unittest.main()

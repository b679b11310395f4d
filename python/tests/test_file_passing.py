"""wsgi.file_wrapper by descriptor: FILE_SOCKET, then RESPONSE_FILE with the
open file passed on the file socket (SCM_RIGHTS), over a real socketpair."""

import os
import select
import stat
import unittest

from gwclient import APPS_DIR, END, HDR, REQUEST, RBODY, RFILE, START, Worker

with open(os.path.join(APPS_DIR, 'files.py'), 'rb') as _f:
    SOURCE = _f.read()


class FilePassingTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.w = Worker('--app', 'files:app')
        cls.w.offer_file_socket()

    @classmethod
    def tearDownClass(cls):
        cls.w.close()

    def assertNothingWaiting(self):
        self.assertEqual(select.select([self.w.files], [], [], 0)[0], [])

    def test_regular_file_goes_by_descriptor(self):
        r = self.w.request('/file')
        self.assertEqual(r.frames, [START, RFILE, END])
        self.assertEqual(r.body, SOURCE)
        offset, length, info = r.files[0]
        self.assertEqual((offset, length), (0, len(SOURCE)))
        self.assertTrue(stat.S_ISREG(info.st_mode))
        # The length is known, so the worker says it.
        self.assertIn(('Content-Length', str(len(SOURCE))), r.headers)
        self.assertNothingWaiting()

    def test_position_and_content_length_bound_the_region(self):
        r = self.w.request('/file_at', query='skip=100&length=50')
        self.assertEqual((r.files[0][:2], r.body), ((100, 50), SOURCE[100:150]))
        self.assertEqual(r.headers.count(('Content-Length', '50')), 1)
        r = self.w.request('/file_at', query='skip=%d' % (len(SOURCE) - 7))
        self.assertEqual((r.files[0][:2], r.body), ((len(SOURCE) - 7, 7), SOURCE[-7:]))

    def test_empty_region_sends_no_descriptor(self):
        r = self.w.request('/file_at', query='skip=%d' % len(SOURCE))
        self.assertEqual((r.frames, r.body), ([START, END], b''))
        self.assertIn(('Content-Length', '0'), r.headers)
        self.assertNothingWaiting()

    def test_content_length_past_the_end_streams_what_there_is(self):
        r = self.w.request('/file_at', query='skip=10&length=%d' % len(SOURCE))
        self.assertNotIn(RFILE, r.frames)
        self.assertEqual(r.body, SOURCE[10:])

    def test_head_sends_no_descriptor(self):
        r = self.w.request('/file', method='HEAD')
        self.assertEqual((r.frames, r.body), ([START, END], b''))
        self.assertIn(('Content-Length', str(len(SOURCE))), r.headers)
        self.assertNothingWaiting()

    def test_not_a_regular_file_keeps_frames(self):
        for path, body in [('/pipe', b'from a pipe'), ('/bytesio', b'in memory')]:
            r = self.w.request(path)
            self.assertEqual((r.frames, r.body), ([START, RBODY, END], body))
        self.assertNothingWaiting()

    def test_not_modified_has_no_body(self):
        r = self.w.request('/not_modified')
        self.assertEqual((r.status, r.frames, r.body), ('304 Not Modified', [START, END], b''))
        self.assertNothingWaiting()

    def test_descriptors_match_frames_in_a_batch(self):
        skips = [0, 5, 17, 300, 1000]
        block = b''.join(HDR.pack(len(b), REQUEST, 0, 0) + b for b in (
            self.w.environ_block('GET', '/file_at', 'skip=%d&length=9' % s, {}, None)
            for s in skips))
        self.w.sock.sendall(block)
        bodies = [self.w.read_response().body for _ in skips]
        self.assertEqual(bodies, [SOURCE[s:s + 9] for s in skips])
        self.assertNothingWaiting()

    def test_worker_keeps_no_descriptor(self):
        before = set(os.listdir('/proc/%d/fd' % self.w.proc.pid))
        for _ in range(20):
            self.w.request('/file')
        self.assertEqual(set(os.listdir('/proc/%d/fd' % self.w.proc.pid)), before)


class WithoutFileSocketTest(unittest.TestCase):

    def test_file_wrapper_streams_frames(self):
        with Worker('--app', 'files:app') as w:
            r = w.request('/file')
            self.assertEqual((r.body, set(r.frames)), (SOURCE, {START, RBODY, END}))


class FileSocketFrameTest(unittest.TestCase):

    def test_file_socket_without_descriptor_is_a_protocol_error(self):
        with Worker('--app', 'files:app') as w:
            w.send(0x05)
            self.assertEqual(w.wait(), 4)
            self.assertIn('FILE_SOCKET frame without a descriptor', w.output())


if __name__ == '__main__':
    unittest.main()

"""Requests and responses: framing, environ, start_response rules, errors, close()."""

import json
import os
import tempfile
import unittest

from gwclient import APPS_DIR, END, RBODY, REQUEST, START, APP_ERROR, HDR, Worker


class HelloTest(unittest.TestCase):

    def test_exact_frames(self):
        with Worker('--app', 'hello:app') as w:
            w.send_request('/')
            self.assertEqual(w.recv_frame(), (START, 0, b'200 OK\0Content-Type\0text/plain\0'
                                                        b'Content-Length\x0013\0'))
            self.assertEqual(w.recv_frame(), (RBODY, 0, b'Hello, world!'))
            self.assertEqual(w.recv_frame(), (END, 0, b''))

    def test_many_requests_and_pipelining(self):
        with Worker('--app', 'probe:app') as w:
            for i in range(200):
                self.assertEqual(w.request('/id').body, str(i + 1).encode())
            blocks = b''.join(HDR.pack(len(b), REQUEST, 0, 0) + b for b in
                              (w.environ_block('GET', '/id', '', {}, None) for _ in range(50)))
            w.sock.sendall(blocks)
            self.assertEqual([w.read_response().body for _ in range(50)],
                             [str(i).encode() for i in range(201, 251)])


class ProbeTest(unittest.TestCase):
    app = 'probe:app'

    @classmethod
    def setUpClass(cls):
        cls.w = Worker('--app', cls.app)

    @classmethod
    def tearDownClass(cls):
        cls.w.close()

    def ok(self, path, **kw):
        r = self.w.request(path, **kw)
        self.assertIsNone(r.error, r.error)
        return r

    def error(self, path, **kw):
        r = self.w.request(path, **kw)
        self.assertIsNotNone(r.error, r)
        return r


class EnvironTest(ProbeTest):

    def test_environ(self):
        r = self.ok('/environ', query='a=1&b=%20', headers={'HTTP_X_THING': 'yes'})
        env = json.loads(r.body)
        self.assertEqual(env['wsgi.version'], [1, 0])
        self.assertIs(env['wsgi.multithread'], False)
        self.assertIs(env['wsgi.multiprocess'], True)
        self.assertIs(env['wsgi.run_once'], False)
        self.assertEqual(env['wsgi.url_scheme'], 'http')
        self.assertEqual(env['wsgi.input'], 'RequestBody')
        self.assertEqual(env['wsgi.errors'], 'ErrorStream')
        self.assertEqual(env['wsgi.file_wrapper'], 'type')
        self.assertEqual(env['berth.request_id'], str(self.w.next_id))
        for key, value in [('REQUEST_METHOD', 'GET'), ('SCRIPT_NAME', ''),
                           ('PATH_INFO', '/environ'), ('QUERY_STRING', 'a=1&b=%20'),
                           ('SERVER_NAME', 'testserver'), ('SERVER_PORT', '80'),
                           ('SERVER_PROTOCOL', 'HTTP/1.1'), ('REMOTE_ADDR', '127.0.0.1'),
                           ('REMOTE_PORT', '40000'), ('HTTP_X_THING', 'yes')]:
            self.assertEqual(env[key], value)
        self.assertNotIn('CONTENT_LENGTH', env)
        self.assertNotIn('', env)

    def test_latin1_path(self):
        path = '/environ/caf\xc3\xa9/\xff'  # UTF-8 bytes of "café", a raw 0xff, as latin-1
        env = json.loads(self.ok(path).body)
        self.assertEqual(env['PATH_INFO'], path)

    def test_wsgi_errors(self):
        self.assertEqual(self.ok('/stderr').body, b'logged')
        self.assertIn('message-from-app', self.w.output())


class ResponseTest(ProbeTest):

    def test_write_callable(self):
        r = self.ok('/write')
        self.assertEqual(r.body, b'one,two,three')
        self.assertEqual(r.frames, [START, RBODY, RBODY, RBODY, END])

    def test_empty_body(self):
        r = self.ok('/empty')
        self.assertEqual((r.status, r.body, r.frames), ('204 No Content', b'', [START, END]))

    def test_large_streamed_response(self):
        r = self.ok('/stream', query='n=100&size=65536')
        self.assertEqual(r.body, b''.join(bytes([65 + i % 26]) * 65536 for i in range(100)))
        self.assertEqual(r.frames.count(RBODY), 100)

    def test_chunk_larger_than_max_payload_is_split(self):
        size = (1 << 24) + 1000
        r = self.ok('/big', query='size=%d' % size)
        self.assertEqual((len(r.body), r.frames), (size, [START, RBODY, RBODY, END]))

    def test_head(self):
        for path, query in [('/stream', 'n=5'), ('/write', ''), ('/file', ''), ('/id', '')]:
            r = self.ok(path, method='HEAD', query=query)
            self.assertEqual((r.status, r.body, r.frames), ('200 OK', b'', [START, END]))

    def test_file_wrapper(self):
        with open(os.path.join(APPS_DIR, 'probe.py'), 'rb') as f:
            content = f.read()
        for blksize in (1, 1000, 1 << 20):
            self.assertEqual(self.ok('/file', query='blksize=%d' % blksize).body, content)

    def test_exc_info_replaces_pending_headers(self):
        r = self.ok('/exc_info')
        self.assertEqual(r.status, '500 Internal Server Error')
        self.assertEqual(r.headers, [('Content-Type', 'text/plain'), ('X-Replaced', '1')])
        self.assertEqual(r.body, b'replaced')

    def test_exc_info_after_headers_reraises(self):
        r = self.error('/exc_info_late')
        self.assertEqual((r.status, r.body, r.frames),
                         ('200 OK', b'sent', [START, RBODY, APP_ERROR]))
        self.assertIn('ValueError: too late to replace', r.error)


class AppErrorTest(ProbeTest):

    def test_error_before_start_response(self):
        r = self.error('/error_before')
        self.assertEqual(r.frames, [APP_ERROR])
        self.assertTrue(r.error.startswith('Traceback (most recent call last):'), r.error)
        self.assertIn('RuntimeError: boom before start_response', r.error)
        self.assertIn('RuntimeError: boom before start_response', self.w.output())
        self.assertEqual(self.ok('/id').status, '200 OK')  # the worker goes on

    def test_error_after_start_response(self):
        r = self.error('/error_after_start')
        self.assertEqual(r.frames, [APP_ERROR])  # headers were not sent yet

    def test_error_in_body(self):
        r = self.error('/error_in_body')
        self.assertEqual((r.status, r.body, r.frames),
                         ('200 OK', b'partial', [START, RBODY, APP_ERROR]))
        self.assertIn('RuntimeError: boom in body', r.error)

    def test_pep3333_violations(self):
        for path, message in [('/bad_status', "status must look like '200 OK'"),
                              ('/twice', 'start_response() called twice'),
                              ('/str_body', 'must be bytes, not str'),
                              ('/no_start', 'before calling start_response()'),
                              ('/latin1_header', 'latin-1'),
                              ('/nul_header', 'NUL, CR or LF'),
                              ('/crlf_header', 'NUL, CR or LF'),
                              ('/int_header', 'must be str')]:
            r = self.error(path)
            self.assertEqual(r.frames, [APP_ERROR], path)
            self.assertIn(message, r.error, path)


class CloseTest(unittest.TestCase):

    def test_close_is_called_in_every_path(self):
        with Worker('--app', 'probe:app') as w:
            paths = ['/id', '/write', '/stream', '/file', '/empty', '/error_in_body',
                     '/exc_info_late', '/str_body', '/no_start', '/echo']
            for path in paths:
                w.request(path)
            w.request('/stream', method='HEAD')
            w.request('/echo', query='mode=none', body=b'x' * 200000)
            r = w.request('/closes')
            self.assertEqual(json.loads(r.body), paths + ['/stream', '/echo'])

    def test_close_when_the_gateway_goes_away(self):
        with tempfile.TemporaryDirectory() as d:
            marker = os.path.join(d, 'closed')
            with Worker('--app', 'probe:app', env={'PROBE_CLOSE_MARKER': marker}) as w:
                w.send_request('/stream', query='n=2000&size=65536')
                self.assertEqual(w.recv_frame()[0], START)
                w.sock.close()
                self.assertEqual(w.wait(), 0)
                with open(marker) as f:
                    self.assertEqual(f.read(), '/stream\n')


if __name__ == '__main__':
    unittest.main()

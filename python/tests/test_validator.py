"""The worker under wsgiref.validate: many request shapes, zero violations."""

import os
import unittest

from gwclient import APPS_DIR, Worker

LINES = b'first line\nsecond\n\nlast without newline'
STREAM = b''.join(bytes([65 + i % 26]) * 50000 for i in range(100))

# (path, request options, expected body or None to skip the body check)
SHAPES = [
    ('/environ', {'query': 'x=1&y=%C3%A9'}, None),
    ('/environ/caf\xc3\xa9', {}, None),
    ('/environ', {'method': 'POST', 'body': b'ignored'}, None),
    ('/echo', {'method': 'POST', 'query': 'mode=all', 'body': LINES}, LINES),
    ('/echo', {'method': 'POST', 'query': 'mode=length', 'body': LINES}, LINES),
    ('/echo', {'method': 'POST', 'query': 'mode=partial', 'body': LINES}, b'fir'),
    ('/echo', {'method': 'POST', 'query': 'mode=chunks', 'body': b'0123456789ab', 'chunk': 3},
     b'01234|56789|ab'),
    ('/echo', {'method': 'POST', 'query': 'mode=lines', 'body': LINES, 'chunk': 4},
     b'first line\n|second\n|\n|last without newline'),
    ('/echo', {'method': 'PUT', 'query': 'mode=sized_lines', 'body': b'abcdef\ngh\n'},
     b'abcd|ef\n|gh\n'),
    ('/echo', {'method': 'POST', 'query': 'mode=readlines', 'body': LINES},
     b'first line\n|second\n|\n|last without newline'),
    ('/echo', {'method': 'PATCH', 'query': 'mode=iter', 'body': LINES, 'chunk': 1},
     b'first line\n|second\n|\n|last without newline'),
    ('/echo', {'method': 'POST', 'query': 'mode=none', 'body': LINES * 1000}, b''),
    ('/echo', {'method': 'POST', 'query': 'mode=all', 'body': b''}, b''),
    ('/echo', {'method': 'POST', 'query': 'mode=all', 'body': (b'chunked ', b'body')},
     b'chunked body'),
    ('/echo', {'method': 'DELETE', 'query': 'mode=all'}, b''),
    ('/echo', {'method': 'OPTIONS', 'query': 'mode=lines'}, b''),
    ('/echo', {'method': 'HEAD', 'query': 'mode=all'}, b''),
    ('/stream', {'query': 'n=100&size=50000'}, STREAM),
    ('/stream', {'method': 'HEAD', 'query': 'n=100&size=50000'}, b''),
    ('/write', {}, b'one,two,three'),
    ('/write', {'method': 'HEAD'}, b''),
    ('/exc_info', {}, b'replaced'),
    ('/empty', {}, b''),
    ('/stderr', {}, b'logged'),
    ('/nowhere', {}, b'not found'),
]


class ValidatorTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.w = Worker('--app', 'probe:validated')

    @classmethod
    def tearDownClass(cls):
        cls.w.close()

    def tearDown(self):
        out = self.w.output()
        for sign in ('AssertionError', 'WSGIWarning', 'garbage collected'):
            self.assertNotIn(sign, out)

    def test_shapes(self):
        for path, options, expected in SHAPES:
            with self.subTest(path=path, **{k: v for k, v in options.items() if k != 'body'}):
                r = self.w.request(path, **options)
                self.assertIsNone(r.error, r.error)
                if expected is not None:
                    self.assertEqual(r.body, expected)

    def test_file_wrapper(self):
        with open(os.path.join(APPS_DIR, 'probe.py'), 'rb') as f:
            self.assertEqual(self.w.request('/file').body, f.read())

    def test_errors_are_app_errors_not_violations(self):
        for path, message in [('/error_before', 'boom before start_response'),
                              ('/error_after_start', 'boom after start_response'),
                              ('/error_in_body', 'boom in body'),
                              ('/exc_info_late', 'too late to replace')]:
            with self.subTest(path=path):
                r = self.w.request(path)
                self.assertIn(message, r.error)
                self.assertNotIn('AssertionError', r.error)
        self.assertEqual(self.w.request('/id').body, str(self.w.next_id).encode())

    def test_validator_catches_violations(self):
        # Proof that violations do surface: the validator rejects a non-str header value.
        r = self.w.request('/int_header')
        self.assertIn('AssertionError', r.error)
        self.w.log.truncate(0)  # keep tearDown's check about the server side


if __name__ == '__main__':
    unittest.main()

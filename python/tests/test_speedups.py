"""The optional C accelerator: the same results as the pure-Python path, and every request
test again on the pure-Python path (the default run uses C where it is built)."""

import itertools
import os
import random
import sys
import sysconfig
import unittest

from gwclient import PYTHON_DIR, Worker

sys.path.insert(0, PYTHON_DIR)  # the tests otherwise talk to workers only through sockets
import berth_worker.environ as environ_mod
import berth_worker.response as response_mod
from berth_worker.speedups import native

import test_batching
import test_body
import test_file_passing
import test_requests
import test_validator
import test_wsgi_input

HEADERS_PRESENT = os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))


class BuiltTest(unittest.TestCase):

    def test_built_where_python_headers_are(self):
        # `make setup` builds it whenever it can; where it can, the C path must be tested.
        if HEADERS_PRESENT and os.environ.get('BERTH_NO_SPEEDUPS', '') in ('', '0'):
            self.assertIsNotNone(native, 'Python.h is present but berth_worker._speedups '
                                         'is not built: run make setup')
            self.assertIs(environ_mod.request_environ, native.environ)

    def test_the_worker_uses_it_unless_told_not_to(self):
        with Worker('--app', 'probe:app') as w:
            self.assertEqual(w.request('/speedups').body,
                             b'c' if native is not None else b'python')
        with Worker('--app', 'probe:app', env={'BERTH_NO_SPEEDUPS': '1'}) as w:
            self.assertEqual(w.request('/speedups').body, b'python')


@unittest.skipIf(native is None and not HEADERS_PRESENT, 'no Python.h: nothing to build')
class SameResultsTest(unittest.TestCase):
    """C and Python agree on valid input; C declines (None) exactly where Python raises."""

    def test_environ_blocks(self):
        base = environ_mod.base_environ()
        before = dict(base)
        pieces = ['', 'A', 'REQUEST_METHOD', 'GET', '/caf\xc3\xa9', '\xff\xfe', 'x' * 300]
        blocks = ['', '\0', 'k\0', 'k\0v', 'k\0v\0', 'a\0b\0c\0', 'a\0\0\0\0', '\0\0\0']
        rng = random.Random(6)
        for _ in range(500):
            fields = [rng.choice(pieces) for _ in range(rng.randrange(0, 9))]
            blocks.append('\0'.join(fields) + rng.choice(['', '\0']))
        for block in blocks:
            expected = environ_mod.request_environ_py(base, block)
            got = native.environ(base, block)
            self.assertEqual(got, expected, repr(block))
            self.assertIsNot(got, base)
        self.assertEqual(base, before)  # copied, never written to

    def test_environ_rejects_wrong_types(self):
        with self.assertRaises(TypeError):
            native.environ({}, b'a\0b\0')
        with self.assertRaises(ValueError):
            native.environ({}, 'a\0\u20ac\0')

    def test_encode_start(self):
        statuses = ['200 OK', '404 Not Found', '599 x', '200 ', '200 caf\xe9', '200OK', '20 OK',
                    '099 X', 'abc OK', '200 a\nb', '200 a\0b', '200 \u20ac', b'200 OK', 200]
        headers = [[], [('A', 'b')], (('A', 'b'), ('C', '')), [('Content-Length', '13')] * 5,
                   [('X', '\xe9')], [('X', '\u20ac')], [('', 'v')], [('A:B', 'v')],
                   [('A', 'b\r\nC: d')], [('A\0', 'v')], [('A', 1)], [(b'A', 'v')],
                   [['A', 'b']], [('A', 'b', 'c')], ('A', 'b'), 'AB', None,
                   [('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2; Path=/')]]
        for status, hdrs in itertools.product(statuses, headers):
            try:
                expected = response_mod.encode_start_py(status, hdrs)
            except (TypeError, ValueError) as exc:
                expected = exc
            got = native.encode_start(status, hdrs)
            if isinstance(expected, Exception):
                self.assertIsNone(got, (status, hdrs))
                with self.assertRaises(type(expected)):
                    response_mod.encode_start(status, hdrs)
            elif got is not None:  # C may also leave valid but unusual input to Python
                self.assertEqual(got, expected, (status, hdrs))
                self.assertEqual(response_mod.encode_start(status, hdrs), expected)
            else:
                self.assertIn(hdrs.__class__.__name__, ('list', 'tuple'))
                self.assertTrue(any(type(h) is not tuple for h in hdrs), (status, hdrs))

    def test_encode_start_common_case_is_c(self):
        frame = native.encode_start('200 OK', [('Content-Type', 'text/plain')])
        self.assertEqual(frame, b'\0\0\0\x1f\x22\0\0\0' b'200 OK\0Content-Type\0text/plain\0')

    def test_encode_start_too_large_is_left_to_python(self):
        big = [('X', 'v' * (1 << 20))] * 17
        self.assertIsNone(native.encode_start('200 OK', big))
        with self.assertRaises(ValueError):
            response_mod.encode_start('200 OK', big)


class PurePython:
    """Runs a request test class's tests with workers on the pure-Python path."""

    @classmethod
    def setUpClass(cls):
        cls._saved = os.environ.get('BERTH_NO_SPEEDUPS')
        os.environ['BERTH_NO_SPEEDUPS'] = '1'  # the workers the tests start inherit it
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if cls._saved is None:
            os.environ.pop('BERTH_NO_SPEEDUPS', None)
        else:
            os.environ['BERTH_NO_SPEEDUPS'] = cls._saved


for _module in (test_requests, test_batching, test_body, test_file_passing, test_validator,
                test_wsgi_input):
    for _name, _cls in list(vars(_module).items()):
        if isinstance(_cls, type) and issubclass(_cls, unittest.TestCase) \
                and _cls.__module__ == _module.__name__:
            globals()['PurePython' + _name] = type('PurePython' + _name, (PurePython, _cls), {})
del _module, _name, _cls

"""PING/PONG, STOP, EOF, protocol errors and signals."""

import signal
import struct
import time
import unittest

from gwclient import BODY, BODY_END, END, PING, PONG, REQUEST, STOP, Worker


class ControlTest(unittest.TestCase):

    def setUp(self):
        self.w = Worker('--app', 'probe:app')
        self.addCleanup(self.w.close)

    def test_ping_pong(self):
        self.w.send(PING, b'\x00\x01opaque')
        self.assertEqual(self.w.expect(PONG), b'\x00\x01opaque')
        self.w.send(PING)
        self.assertEqual(self.w.expect(PONG), b'')

    def test_ping_while_the_app_reads_the_body(self):
        self.w.send_request('/echo', body=[b'first '], end=False)
        self.w.join_sender()
        self.w.send(PING, b'p1')  # the app is blocked in wsgi.input.read()
        self.assertEqual(self.w.expect(PONG), b'p1')
        self.w.send(BODY, b'second')
        self.w.send(BODY_END)
        self.assertEqual(self.w.read_response().body, b'first second')

    def test_stop_when_idle(self):
        self.w.send(STOP)
        self.assertEqual(self.w.wait(), 0)
        with self.assertRaises(EOFError):
            self.w.recv_frame()

    def test_stop_finishes_the_current_request(self):
        self.w.send_request('/echo', body=[b'a'], end=False)
        self.w.send(STOP)
        self.w.send(BODY, b'b')
        self.w.send(BODY_END)
        r = self.w.read_response()
        self.assertEqual((r.status, r.body), ('200 OK', b'ab'))
        self.assertEqual(self.w.wait(), 0)

    def test_stop_after_pipelined_request(self):
        self.w.sock.sendall(self.frame(REQUEST, self.w.environ_block('GET', '/id', '', {}, None))
                            + self.frame(STOP))
        self.assertEqual(self.w.read_response().body, b'1')
        self.assertEqual(self.w.wait(), 0)

    def test_eof_exits_zero(self):
        self.w.sock.shutdown(2)
        self.assertEqual(self.w.wait(), 0)
        self.assertNotIn('Traceback', self.w.output())

    def test_eof_while_the_app_reads_the_body(self):
        self.w.send_request('/abort', body=[b'abcdefgh'], end=False)
        self.w.join_sender()
        self.w.sock.shutdown(1)  # no more frames; the worker's reads see EOF
        r = self.w.read_response()
        self.assertEqual(r.body.decode(),
                         "OSError: the gateway closed the connection after b'abcdefgh'")
        self.assertEqual(self.w.wait(), 0)

    def frame(self, ftype, payload=b'', flags=0):
        return struct.pack('!IBBH', len(payload), ftype, flags, 0) + payload

    def test_unknown_frame_type(self):
        self.w.sock.sendall(self.frame(0x7f))
        self.assertEqual(self.w.wait(), 4)
        self.assertIn('protocol error', self.w.output())

    def test_oversized_frame(self):
        self.w.sock.sendall(struct.pack('!IBBH', (1 << 24) + 1, BODY, 0, 0))
        self.assertEqual(self.w.wait(), 4)

    def test_body_frame_between_requests(self):
        self.w.send(BODY, b'stray')
        self.assertEqual(self.w.wait(), 4)

    def test_request_inside_a_body(self):
        self.w.send_request('/echo', body=[b'x'], end=False)
        self.w.send(REQUEST, self.w.environ_block('GET', '/', '', {}, None))
        self.assertEqual(self.w.wait(), 4)

    def test_sigint_is_ignored(self):
        self.w.proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        self.assertEqual(self.w.request('/id').status, '200 OK')
        self.assertIsNone(self.w.proc.poll())
        self.assertNotIn('KeyboardInterrupt', self.w.output())

    def test_sigterm_exits(self):
        self.w.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.w.wait(), -signal.SIGTERM)

    def test_gateway_gone_mid_response_still_closes(self):
        # Covered with a marker file in test_requests; here: exit status only.
        self.w.send_request('/stream', query='n=2000&size=65536')
        self.w.recv_frame()
        self.w.sock.close()
        self.assertEqual(self.w.wait(), 0)

    def test_end_frame_is_empty(self):
        self.w.send_request('/id')
        while True:
            ftype, flags, payload = self.w.recv_frame()
            if ftype == END:
                self.assertEqual((flags, payload), (0, b''))
                break


if __name__ == '__main__':
    unittest.main()

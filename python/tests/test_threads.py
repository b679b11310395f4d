"""Threads per worker (--threads N): lanes run at once, each in order; frames carry their
lane; writes never interleave inside a frame; thread-local state is per thread; a stack
dump shows every thread; a crash ends the worker; STOP lets every lane finish."""

import os
import signal
import time
import unittest

from gwclient import (BODY, BODY_END, END, HAS_BODY, HDR, PING, PONG, RBODY, REQUEST, START,
                      STOP, Worker)

RECLAIM, SKIPPED = 0x04, 0x27


class Threaded(Worker):
    """The test gateway, lane-aware: frames are sent on and read with their lane."""

    def send_on(self, lane, ftype, payload=b'', flags=0):
        self.sock.sendall(HDR.pack(len(payload), ftype, flags, lane) + payload)

    def request_on(self, lane, path, query='', body=None):
        block = self.environ_block('GET' if body is None else 'POST', path, query, {}, body)
        self.send_on(lane, REQUEST, block, HAS_BODY if body is not None else 0)

    def recv_lane_frame(self):
        """(lane, type, payload) of the next frame."""
        while True:
            if len(self.buf) >= 8:
                length, ftype, _, lane = HDR.unpack_from(self.buf)
                if len(self.buf) >= 8 + length:
                    payload, self.buf = self.buf[8:8 + length], self.buf[8 + length:]
                    return lane, ftype, payload
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError('worker closed the socket')
            self.buf += data

    def responses(self, count):
        """Read until `count` replies ended; return {lane: [(status, body), ...]} in the
        order each lane answered, and the order lanes finished in."""
        partial, done, order = {}, {}, []
        while sum(map(len, done.values())) < count:
            lane, ftype, payload = self.recv_lane_frame()
            if ftype == START:
                partial[lane] = [payload.split(b'\0')[0].decode(), b'']
            elif ftype == RBODY:
                partial[lane][1] += payload
            elif ftype in (END, SKIPPED):
                reply = tuple(partial.pop(lane)) if ftype == END else ('skipped', None)
                done.setdefault(lane, []).append(reply)
                order.append(lane)
            else:
                raise AssertionError('unexpected frame 0x%02x on lane %d' % (ftype, lane))
        return done, order


class ThreadsTest(unittest.TestCase):

    def start(self, threads=4):
        w = Threaded('--app', 'threaded:app', '--threads', str(threads))
        self.addCleanup(w.close)
        return w

    def test_ready_names_each_lane_thread(self):
        w = self.start(4)
        self.assertEqual(len(w.facts['threads']), 4)
        self.assertEqual(len(set(w.facts['threads'])), 4)
        for ident in w.facts['threads']:
            self.assertRegex(ident, r'^0x[0-9a-f]{16}$')

    def test_four_slow_requests_run_at_once(self):
        w = self.start(4)
        started = time.monotonic()
        for lane in range(4):
            w.request_on(lane, '/sleep', 's=0.5')
        done, _ = w.responses(4)
        took = time.monotonic() - started
        self.assertLess(took, 1.5)
        idents = {int(done[lane][0][1]) for lane in range(4)}
        self.assertEqual({'0x%016x' % i for i in idents}, set(w.facts['threads']))
        # Lane k runs in the thread READY named k.
        for lane in range(4):
            self.assertEqual('0x%016x' % int(done[lane][0][1]), w.facts['threads'][lane])

    def test_a_slow_lane_does_not_hold_the_others(self):
        w = self.start(2)
        w.request_on(0, '/sleep', 's=1')
        for _ in range(5):
            w.request_on(1, '/')
        done, order = w.responses(6)
        self.assertEqual(order, [1, 1, 1, 1, 1, 0])
        self.assertEqual(done[1], [('200 OK', b'ok')] * 5)

    def test_each_lane_answers_in_order_and_reclaims_its_own(self):
        w = self.start(2)
        w.request_on(1, '/sleep', 's=0.3')
        w.request_on(1, '/local')
        w.request_on(1, '/local')
        w.send_on(1, RECLAIM)
        w.request_on(0, '/local')
        done, _ = w.responses(4)
        self.assertEqual([s for s, _ in done[1]], ['200 OK', 'skipped', 'skipped'])
        self.assertEqual(done[0][0][0], '200 OK')

    def test_thread_local_state_is_per_thread(self):
        w = self.start(3)
        for lane in (2, 2, 0, 2):
            w.request_on(lane, '/local')
        done, _ = w.responses(4)
        counts = {lane: [int(body.split()[1]) for _, body in done[lane]] for lane in done}
        self.assertEqual(counts, {2: [1, 2, 3], 0: [1]})
        self.assertEqual(done[2][0][1].split()[0], done[2][2][1].split()[0])
        self.assertNotEqual(done[2][0][1].split()[0], done[0][0][1].split()[0])

    def test_wsgi_multithread_is_true(self):
        w = self.start(2)
        w.request_on(1, '/multithread')
        done, _ = w.responses(1)
        self.assertEqual(done[1], [('200 OK', b'True')])

    def test_large_responses_of_all_lanes_arrive_whole(self):
        """Frames from different threads may alternate, but never mix inside a frame."""
        w = self.start(4)
        for lane in range(4):
            w.request_on(lane, '/big', 'kb=2048&c=%s' % 'abcd'[lane])
        done, _ = w.responses(4)
        for lane in range(4):
            status, body = done[lane][0]
            self.assertEqual(status, '200 OK')
            self.assertEqual(body, 'abcd'[lane].encode() * 2048 * 1024)

    def test_bodies_of_two_lanes_stream_side_by_side(self):
        w = self.start(2)
        w.request_on(0, '/echo', body=b'')
        w.request_on(1, '/echo', body=b'')
        for i in range(20):
            w.send_on(i % 2, BODY, b'%d-%d;' % (i % 2, i))
        w.send_on(0, BODY_END)
        w.send_on(1, BODY_END)
        done, _ = w.responses(2)
        self.assertEqual(done[0][0][1], b''.join(b'0-%d;' % i for i in range(0, 20, 2)))
        self.assertEqual(done[1][0][1], b''.join(b'1-%d;' % i for i in range(1, 20, 2)))

    def test_ping_is_answered_while_every_lane_is_busy(self):
        w = self.start(2)
        w.request_on(0, '/sleep', 's=1')
        w.request_on(1, '/sleep', 's=1')
        w.send_on(0, PING, b'hi')
        lane, ftype, payload = w.recv_lane_frame()
        self.assertEqual((lane, ftype, payload), (0, PONG, b'hi'))
        w.responses(2)

    def test_stack_dump_shows_every_lane_thread(self):
        w = self.start(3)
        w.request_on(1, '/sleep', 's=2')
        time.sleep(0.3)
        fd = os.open('/proc/%d/fd/%d' % (w.proc.pid, w.facts['stack_fd']), os.O_RDONLY | os.O_NONBLOCK)
        try:
            w.proc.send_signal(signal.SIGUSR2)
            time.sleep(0.3)
            dump = os.read(fd, 1 << 20).decode()
        finally:
            os.close(fd)
        for ident in w.facts['threads']:
            self.assertIn('Thread %s' % ident, dump)
        stuck = dump.split('Thread %s' % w.facts['threads'][1])[1].split('\n\n')[0]
        self.assertIn('threaded.py', stuck)  # the sleeping request's frame is in its thread's stack
        w.responses(1)

    def test_stop_lets_every_lane_finish(self):
        w = self.start(2)
        w.request_on(0, '/sleep', 's=0.3')
        w.request_on(1, '/sleep', 's=0.3')
        w.request_on(1, '/local')
        w.send_on(0, STOP)
        done, _ = w.responses(3)
        self.assertEqual(len(done[0]) + len(done[1]), 3)
        with self.assertRaises(EOFError):
            w.recv_lane_frame()
        self.assertEqual(w.wait(), 0)

    def test_a_crash_ends_the_worker_with_its_running_requests(self):
        w = self.start(2)
        w.request_on(0, '/sleep', 's=2')
        w.request_on(1, '/exit', 's=0.2')
        with self.assertRaises(EOFError):
            while True:
                w.recv_lane_frame()
        self.assertEqual(w.wait(), 7)

    def test_a_frame_for_a_lane_it_does_not_have_is_a_protocol_error(self):
        w = self.start(2)
        w.request_on(5, '/')
        with self.assertRaises(EOFError):
            w.recv_lane_frame()
        self.assertEqual(w.wait(), 4)
        self.assertIn('lane 5 of a worker with 2 threads', w.output())

    def test_one_thread_is_the_plain_loop(self):
        w = Worker('--app', 'threaded:app', '--threads', '1')
        self.addCleanup(w.close)
        self.assertNotIn('threads', w.facts)
        self.assertEqual(w.request('/multithread').body, b'False')


if __name__ == '__main__':
    unittest.main()

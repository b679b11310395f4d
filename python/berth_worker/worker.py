"""The request loop: frames in, frames out, several requests per read."""

import gc
import json
import sys
from time import monotonic

from .environ import base_environ, request_environ
from .protocol import (READY, REQUEST, STOP, HAS_BODY, SKIPPED_FRAME, GatewayGone,
                       ProtocolError, frame)
from .response import Response
from .wsgi_input import RequestBody

# A request that ran longer than this may have made the gateway reclaim the
# requests queued behind it: look for RECLAIM before starting the next one.
LOOK_AHEAD_AFTER = 0.001


class Worker:
    """Serves WSGI requests arriving on a Connection.

    The gateway may send several REQUESTs before the first is answered
    (docs/worker-protocol.md, "Several requests in flight"). They are run one
    at a time, in order. Every reply is on the socket before the next request
    starts: if the app then kills the process, the gateway knows exactly which
    requests ran (their replies arrived), which one was running, and which
    never started (it gives those to another worker). A reply is queued rather
    than sent when the buffer holds no further request, and goes out with the
    SKIPPED answers or right before the worker blocks reading.
    """

    def __init__(self, conn, app):
        self.conn = conn
        self.app = app
        self.base = base_environ()

    def serve(self):
        """Handle requests until STOP; EOFError when the gateway closes."""
        conn = self.conn
        read_frame = conn.read_frame
        handle = self.handle
        try:
            while True:
                ftype, flags, payload = read_frame()
                if ftype == REQUEST:
                    if conn.reclaims and not flags & HAS_BODY:
                        # A RECLAIM lies ahead: the gateway gives this request
                        # to another worker; it was never seen by the app.
                        conn.queue([SKIPPED_FRAME])
                        continue
                    if conn.pending:
                        conn.flush_pending()
                    started = monotonic()
                    handle(str(payload, 'latin-1'), flags & HAS_BODY)
                    if monotonic() - started > LOOK_AHEAD_AFTER:
                        conn.look_ahead()
                    if conn.stopping:
                        return
                elif ftype == STOP:
                    return
                else:
                    raise conn.fail(ProtocolError(
                        'unexpected frame type 0x%02x between requests' % ftype))
        finally:
            if conn.failed is None and not conn.eof:
                conn.flush_pending()

    def handle(self, block, has_body):
        """Run the app for one REQUEST pair block and queue its response."""
        conn = self.conn
        environ = request_environ(self.base, block)
        body = environ['wsgi.input'] = RequestBody(conn, has_body)
        resp = Response(conn, environ.get('REQUEST_METHOD') == 'HEAD')
        try:
            result = self.app(environ, resp.start_response)
            try:
                resp.send_body(result)
            finally:
                # PEP 3333: close() is called however the request ends.
                close = getattr(result, 'close', None)
                if close is not None:
                    close()
            resp.finish()
        except Exception:
            if conn.failed is not None:
                raise conn.failed from None
            import traceback  # here, not at the top: most workers never need it
            text = traceback.format_exc()
            report(environ, text)
            resp.fail(text)
        if has_body:
            body.drain()


def report(environ, text):
    """Log an app error with the request it happened in."""
    sys.stderr.write('berth worker: error in app handling %s %s (request %s):\n%s'
                     % (environ.get('REQUEST_METHOD'), environ.get('PATH_INFO'),
                        environ.get('berth.request_id'), text))
    sys.stderr.flush()


def run(conn, app, facts, freeze=False, threads=1):
    """Say READY with `facts`, then answer requests until the gateway goes away; return
    the worker's exit status (4 for a protocol error).

    `freeze`: after READY, collect once and move the app's objects out of the collector's
    reach (they live as long as the worker). A worker forked from a zygote leaves this to
    the zygote: a collection in the child would write to every shared page.
    `threads` above 1 runs that many lanes at once (threads.py).
    """
    if threads > 1:
        from .threads import serve
        return serve(conn.sock, app, facts, threads, freeze)
    try:
        conn.sendall(frame(READY, json.dumps(facts, default=str).encode()))
        if freeze:
            gc.collect()
            gc.freeze()
        Worker(conn, app).serve()
    except (EOFError, GatewayGone):
        pass
    except ProtocolError as exc:
        sys.stderr.write('berth worker: protocol error: %s\n' % exc)
        return 4
    return 0

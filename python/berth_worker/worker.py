"""The request loop: one request at a time, frames in, frames out."""

import sys
import traceback

from .environ import base_environ
from .protocol import REQUEST, STOP, HAS_BODY, ProtocolError
from .response import Response
from .wsgi_input import RequestBody


class Worker:
    """Serves WSGI requests arriving on a Connection."""

    def __init__(self, conn, app):
        self.conn = conn
        self.app = app
        self.base = base_environ()

    def serve(self):
        """Handle requests until STOP; EOFError when the gateway closes."""
        conn = self.conn
        read_frame = conn.read_frame
        handle = self.handle
        while True:
            ftype, flags, payload = read_frame()
            if ftype == REQUEST:
                # Pipelined REQUESTs need nothing special: read_frame parses
                # every frame already buffered before it reads the socket again.
                handle(str(payload, 'latin-1'), flags & HAS_BODY)
                if conn.stopping:
                    return
            elif ftype == STOP:
                return
            else:
                raise conn.fail(ProtocolError(
                    'unexpected frame type 0x%02x between requests' % ftype))

    def handle(self, block, has_body):
        """Run the app for one REQUEST pair block and send its response."""
        conn = self.conn
        environ = self.base.copy()
        it = iter(block.split('\0'))
        environ.update(zip(it, it))  # the block's trailing NUL leaves one '' out
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

"""A small real HTTP/1.1 upstream for the proxy tests (Python's http.server, threaded,
optionally behind TLS) that records the connections it accepts and sees closed: the pool
tests read these to tell a reused connection from a new one, and a dropped one."""
import http.server
import socketserver
import ssl
import threading
import time


class CountingUpstream:
    """Answers every GET with `conn <n> <path>` (n: the connection's number, from 1) and
    keeps connections alive. `opened` and `closed` list connection numbers in order."""

    def __init__(self, context: ssl.SSLContext | None = None):
        self.opened, self.closed = [], []
        self.lock = threading.Lock()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with upstream.lock:
                    upstream.opened.append(len(upstream.opened) + 1)
                    self.number = upstream.opened[-1]

            def finish(self):
                try:
                    super().finish()
                finally:
                    with upstream.lock:
                        upstream.closed.append(self.number)

            def do_GET(self):
                body = f"conn {self.number} {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            # A failed handshake is the test's point, not noise on stderr.
            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def counts(self):
        with self.lock:
            return len(self.opened), list(self.closed)

    def wait_closed(self, n, timeout):
        """Seconds until `n` connections were seen closed (AssertionError after `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if len(self.counts()[1]) >= n:
                return time.monotonic() - started
            time.sleep(0.02)
        raise AssertionError(f"the upstream saw {self.counts()} (opened, closed) after {timeout} s")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

"""The smallest app, plus variants for app-loading tests."""


def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '13')])
    return [b'Hello, world!']


application = app


def make_app():
    """A factory, loaded as `hello:make_app()`."""
    def factory_app(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'from factory']
    return factory_app


not_callable = 42

"""A test app returning wsgi.file_wrapper over files of several kinds."""

import io
import os

TEXT = [('Content-Type', 'text/plain')]


def query(environ):
    return dict(p.split('=', 1) for p in environ['QUERY_STRING'].split('&') if '=' in p)


def app(environ, start_response):
    path = environ['PATH_INFO']
    q = query(environ)
    wrap = environ['wsgi.file_wrapper']
    if path == '/file':
        start_response('200 OK', TEXT)
        return wrap(open(__file__, 'rb'), 8192)
    if path == '/file_at':
        # The file's position and the app's Content-Length bound the body (PEP 3333).
        f = open(__file__, 'rb')
        f.read(int(q.get('skip', 0)))  # buffered: the descriptor's offset is further on
        start_response('200 OK', TEXT + ([('Content-Length', q['length'])] if 'length' in q else []))
        return wrap(f)
    if path == '/pipe':
        r, w = os.pipe()
        os.write(w, b'from a pipe')
        os.close(w)
        start_response('200 OK', TEXT)
        return wrap(os.fdopen(r, 'rb'))
    if path == '/bytesio':
        start_response('200 OK', TEXT)
        return wrap(io.BytesIO(b'in memory'))
    if path == '/not_modified':
        start_response('304 Not Modified', [])
        return wrap(open(__file__, 'rb'))
    start_response('404 Not Found', TEXT)
    return [b'not found']

"""A test app for threaded workers: which thread runs a request, per-thread state, slow,
large and crashing requests."""

import os
import threading
import time

TEXT = [('Content-Type', 'text/plain')]
local = threading.local()


def app(environ, start_response):
    path = environ['PATH_INFO']
    query = dict(p.split('=', 1) for p in environ['QUERY_STRING'].split('&') if '=' in p)
    if path == '/sleep':
        time.sleep(float(query.get('s', '1')))
        body = b'%d' % threading.get_ident()
    elif path == '/local':
        # threading.local: each thread counts its own requests.
        local.count = getattr(local, 'count', 0) + 1
        time.sleep(float(query.get('s', '0')))
        body = b'%d %d' % (threading.get_ident(), local.count)
    elif path == '/big':
        size = int(query.get('kb', '512')) * 1024
        fill = query.get('c', 'x').encode()
        start_response('200 OK', TEXT)
        return [fill * (size // 2), fill * (size - size // 2)]
    elif path == '/echo':
        body = environ['wsgi.input'].read()
    elif path == '/multithread':
        body = repr(environ['wsgi.multithread']).encode()
    elif path == '/exit':
        time.sleep(float(query.get('s', '0')))
        os._exit(7)
    else:
        body = b'ok'
    start_response('200 OK', TEXT)
    return [body]

"""Answers which of the modules named in the query string (comma-separated) are imported."""

import sys


def app(environ, start_response):
    names = environ['QUERY_STRING'].split(',')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [','.join(name for name in names if name in sys.modules).encode()]

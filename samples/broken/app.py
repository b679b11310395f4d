"""A WSGI module that fails at import time, for berth's boot-failure tests.

``berth serve --chdir samples/broken app:app`` must report the ImportError
(ModuleNotFoundError: No module named 'does_not_exist_berth') and not serve.
"""

import does_not_exist_berth  # noqa: F401  -- deliberately missing


def app(environ, start_response):  # never reached
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]

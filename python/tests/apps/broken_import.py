"""Fails at import time, like an app with a missing dependency."""

import does_not_exist_berth_test  # noqa: F401


def app(environ, start_response):
    raise AssertionError('never reached')

"""The optional C accelerator (_speedups.c), if it was built and is wanted.

`make setup` builds it when Python's headers are present (scripts/build-speedups.py).
BERTH_NO_SPEEDUPS=1 in the worker's environment forces the pure-Python path; so does a
module built for another interpreter, or one a container cannot map.
"""

import os

native = None
if os.environ.get('BERTH_NO_SPEEDUPS', '') in ('', '0'):
    try:
        from . import _speedups as native
    except (ImportError, OSError):
        native = None

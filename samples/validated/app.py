"""samples/hello wrapped in wsgiref.validate.validator (PEP 3333 conformance checks).

Run it with e.g. ``berth serve --chdir samples/validated app:app``. Every request goes
through the validator, which checks both the server's environ / input / start_response
and the app's side; a violation raises AssertionError (a WSGIWarning is issued for
softer problems), so a non-conforming gateway shows up as a 500 / APP_ERROR.

The hello app is loaded from its file (../hello/app.py) under a distinct module name,
so this works whatever sys.path is (both files are called app.py).
"""

import importlib.util
import os
import sys
from wsgiref.validate import validator

_HELLO_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "hello", "app.py")
_MODULE_NAME = "berth_samples_hello_app"


def _load_hello():
    module = sys.modules.get(_MODULE_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(_MODULE_NAME, os.path.normpath(_HELLO_PATH))
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE_NAME] = module
        spec.loader.exec_module(module)
    return module


hello = _load_hello()
app = validator(hello.app)
application = app

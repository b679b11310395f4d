"""Loading the WSGI app: MODULE:CALLABLE, MODULE:factory() or a Django project."""

import importlib
import os
import sys


def load_wsgi_app(spec):
    """Import `module:callable` (or call `module:factory()`) and return the app."""
    module_name, _, attr = spec.partition(':')
    attr = attr or 'application'
    factory = attr.endswith('()')
    if factory:
        attr = attr[:-2]
    if not module_name or not all(p.isidentifier() for p in attr.split('.')):
        raise ValueError('expected MODULE:CALLABLE or MODULE:FACTORY(), got %r' % spec)
    obj = importlib.import_module(module_name)
    for part in attr.split('.'):
        obj = getattr(obj, part)
    if factory:
        obj = obj()
    if not callable(obj):
        raise TypeError('%r is not callable (%s)' % (spec, type(obj).__name__))
    return obj


def load_django_app(settings_module):
    """Set up Django and return (app, app name) the way runserver does."""
    os.environ['DJANGO_SETTINGS_MODULE'] = settings_module
    import django
    django.setup(set_prefix=False)  # WSGIHandler sets the script prefix per request
    from django.conf import settings
    name = getattr(settings, 'WSGI_APPLICATION', None)
    app = _django_wsgi_application(name)
    if name:
        module, _, attr = name.rpartition('.')
        name = '%s:%s' % (module, attr)
    else:
        name = 'django.core.wsgi:get_wsgi_application()'
    return app, name


def _django_wsgi_application(name):
    """settings.WSGI_APPLICATION, or Django's default handler: what runserver's
    get_internal_wsgi_application() does, without importing django.core.servers.basehttp
    (http.server, socketserver, wsgiref: about 0.35 MiB a worker that it never uses)."""
    from django.core.wsgi import get_wsgi_application
    if name is None:
        return get_wsgi_application()
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string
    try:
        return import_string(name)
    except ImportError as err:
        raise ImproperlyConfigured(
            "WSGI application '%s' could not be loaded; Error importing module." % name) from err


def _warn(what):
    import traceback
    sys.stderr.write('berth worker: cannot determine %s for READY:\n%s'
                     % (what, traceback.format_exc()))


def _path(value):
    return str(value) if value else None


def django_facts(settings_module):
    """Return the READY `django` object; missing settings become null."""
    facts = {'settings': settings_module, 'debug': False, 'static_url': None,
             'static_root': None, 'static_dirs': [], 'media_url': None,
             'media_root': None}
    try:
        from django.conf import settings
        facts['debug'] = bool(getattr(settings, 'DEBUG', False))
        facts['static_url'] = getattr(settings, 'STATIC_URL', None) or None
        facts['static_root'] = _path(getattr(settings, 'STATIC_ROOT', None))
        facts['media_url'] = getattr(settings, 'MEDIA_URL', None) or None
        facts['media_root'] = _path(getattr(settings, 'MEDIA_ROOT', None))
    except Exception:
        _warn('Django settings')
    try:
        facts['static_dirs'] = _static_dirs()
    except Exception:
        _warn('static_dirs')
    return facts


def _static_dirs():
    """Roots of the staticfiles finders, in finder order (like runserver)."""
    from django.apps import apps
    if not apps.is_installed('django.contrib.staticfiles'):
        return []
    from django.contrib.staticfiles import finders
    dirs = []
    for finder in finders.get_finders():
        if isinstance(finder, finders.FileSystemFinder):
            dirs.extend(str(root) for prefix, root in finder.locations if not prefix)
        elif isinstance(finder, finders.AppDirectoriesFinder):
            dirs.extend(str(finder.storages[app].location) for app in finder.apps)
    return dirs


def boot_error_text(label, exc):
    """First line says what failed and why; the full traceback follows."""
    import traceback  # only on failure: it costs a worker about 0.5 MiB
    summary = traceback.format_exception_only(exc)[-1].strip()
    tb = ''.join(traceback.format_exception(exc))
    return 'cannot load app %s: %s\n\n%s' % (label, summary, tb)

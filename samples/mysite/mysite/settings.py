"""
Django settings for the mysite sample project (berth's Django test/benchmark app).

Everything that touches the filesystem or security can be overridden by environment
variables, so tests can point the project at temporary directories:

  MYSITE_DB             SQLite database path          (default: BASE_DIR/var/db.sqlite3;
                                                      var/ is writable in berth's container)
  MYSITE_STATIC_ROOT    collectstatic target          (default: BASE_DIR/staticfiles)
  MYSITE_MEDIA_ROOT     uploaded files                (default: BASE_DIR/media)
  MYSITE_DEBUG          "1" or "0"                    (default: "1" under `berth dev`,
                                                      which sets BERTH_DEV=1; else "0")
  MYSITE_SECRET_KEY     Django SECRET_KEY             (default: a dev-only key, see below)
  MYSITE_ALLOWED_HOSTS  comma-separated ALLOWED_HOSTS (default: 127.0.0.1,localhost,[::1])

With DEBUG off, Django does not serve static or media files: berth serves STATIC_URL
from STATIC_ROOT (after ``manage.py collectstatic``) and MEDIA_URL from MEDIA_ROOT.
"""

import os
from pathlib import Path

# Build paths inside the project like this: BASE_DIR / 'subdir'.
BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_path(name, default):
    value = os.environ.get(name)
    return Path(value) if value else default


# SECURITY WARNING: the default key is for local development and tests only; set
# MYSITE_SECRET_KEY to a long random value for anything reachable from a network.
SECRET_KEY = os.environ.get(
    "MYSITE_SECRET_KEY",
    "django-insecure-berth-sample-dev-key-0f3c9a7e1b2d4c6e8a0b1c2d3e4f5a6b7c8d9e0f",
)

# SECURITY WARNING: don't run with debug turned on in production!
# `berth dev` sets BERTH_DEV=1 in its workers: debug pages there, production-safe elsewhere.
DEBUG = _env_bool("MYSITE_DEBUG", os.environ.get("BERTH_DEV") == "1")

# Matching ignores the port, so "127.0.0.1" accepts "Host: 127.0.0.1:8000".
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("MYSITE_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    if host.strip()
]

# CSRF: no CSRF_TRUSTED_ORIGINS needed for plain http on the same host. Django accepts a
# POST whose Origin header equals "http://" + the request's Host (port included).


# Application definition

INSTALLED_APPS = [
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'gallery',
]

MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
    'django.middleware.clickjacking.XFrameOptionsMiddleware',
]

ROOT_URLCONF = 'mysite.urls'

TEMPLATES = [
    {
        'BACKEND': 'django.template.backends.django.DjangoTemplates',
        'DIRS': [],
        'APP_DIRS': True,
        'OPTIONS': {
            'context_processors': [
                'django.template.context_processors.request',
                'django.contrib.auth.context_processors.auth',
                'django.contrib.messages.context_processors.messages',
            ],
        },
    },
]

WSGI_APPLICATION = 'mysite.wsgi.application'


# Database
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': _env_path("MYSITE_DB", BASE_DIR / 'var' / 'db.sqlite3'),
    }
}


# Password validation
# https://docs.djangoproject.com/en/5.2/ref/settings/#auth-password-validators

AUTH_PASSWORD_VALIDATORS = [
    {
        'NAME': 'django.contrib.auth.password_validation.UserAttributeSimilarityValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.MinimumLengthValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.CommonPasswordValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.NumericPasswordValidator',
    },
]


# Internationalization
# https://docs.djangoproject.com/en/5.2/topics/i18n/

LANGUAGE_CODE = 'en-us'

TIME_ZONE = 'UTC'

USE_I18N = True

USE_TZ = True


# Static files (CSS, JavaScript, Images) and user uploads
# https://docs.djangoproject.com/en/5.2/howto/static-files/

STATIC_URL = '/static/'
STATIC_ROOT = _env_path("MYSITE_STATIC_ROOT", BASE_DIR / 'staticfiles')

MEDIA_URL = '/media/'
MEDIA_ROOT = _env_path("MYSITE_MEDIA_ROOT", BASE_DIR / 'media')


# Logging: send Django's errors (e.g. 500 tracebacks) to stderr whatever DEBUG is, the
# way a gunicorn deployment would, instead of Django's default (console only when
# DEBUG is on, mail_admins otherwise). berth passes worker stderr through to its log.

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {
        'stderr': {'class': 'logging.StreamHandler'},
    },
    'loggers': {
        'django': {'handlers': ['stderr'], 'level': 'INFO', 'propagate': False},
    },
}


# Default primary key field type
# https://docs.djangoproject.com/en/5.2/ref/settings/#default-auto-field

DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'

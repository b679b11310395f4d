#!/usr/bin/env bash
# Gets samples/mysite ready to serve: database migrated, static files collected, and an
# `admin` user (password `admin`) when the database has no users yet — a local demo only.
set -euo pipefail
cd "$(dirname "$0")/../samples/mysite"
python=../../.venv/bin/python
# The database lives in var/ (settings.py), a directory isolated workers may write.
mkdir -p var media
$python manage.py migrate --noinput -v 0
$python manage.py collectstatic --noinput -v 0
$python - <<'PY'
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()
from django.contrib.auth import get_user_model
User = get_user_model()
if not User.objects.exists():
    User.objects.create_superuser("admin", "admin@example.com", "admin")
    print("prepare-mysite: created the demo superuser admin / admin (local database only)")
PY

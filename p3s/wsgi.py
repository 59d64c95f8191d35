"""WSGI entry point (gunicorn p3s.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p3s.settings")
application = get_wsgi_application()

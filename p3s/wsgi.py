"""WSGI entry point (gunicorn p3s.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p3s.settings")
application = get_wsgi_application()

# Resolve the URL configuration now (it imports every view) rather than in the first request.
_ = get_resolver().url_patterns

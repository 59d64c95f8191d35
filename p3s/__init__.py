"""p3s server: Django project with one app per bounded context."""

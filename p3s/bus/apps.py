from django.apps import AppConfig


class BusConfig(AppConfig):
    name = "p3s.bus"
    label = "bus"
    verbose_name = "message bus"
    default_auto_field = "django.db.models.BigAutoField"

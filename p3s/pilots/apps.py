from django.apps import AppConfig


class PilotsConfig(AppConfig):
    name = "p3s.pilots"
    label = "pilots"

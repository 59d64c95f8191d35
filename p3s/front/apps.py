from django.apps import AppConfig


class FrontConfig(AppConfig):
    name = "p3s.front"
    label = "front"

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "p3s.api"
    label = "api"

from django.apps import AppConfig


class DagsConfig(AppConfig):
    name = "p3s.dags"
    label = "dags"

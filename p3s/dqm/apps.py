from django.apps import AppConfig


class DqmConfig(AppConfig):
    name = "p3s.dqm"
    label = "dqm"

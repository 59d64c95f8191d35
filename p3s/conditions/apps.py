from django.apps import AppConfig


class ConditionsConfig(AppConfig):
    name = "p3s.conditions"
    label = "conditions"
    verbose_name = "conditions and references"

from django.apps import AppConfig


class ConditionsConfig(AppConfig):
    name = "p3s.conditions"
    label = "conditions"
    verbose_name = "conditions and references"

    def ready(self) -> None:
        from p3s.conditions import current  # noqa: F401 - connects the signals that drop its copy

from django.apps import AppConfig


class LogsConfig(AppConfig):
    name = "p3s.logs"
    label = "logs"
    verbose_name = "job logs"

    def ready(self) -> None:
        from p3s.logs import models  # noqa: F401 - connects the file-removal signal

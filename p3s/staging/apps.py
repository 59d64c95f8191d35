from django.apps import AppConfig


class StagingConfig(AppConfig):
    name = "p3s.staging"
    label = "staging"
    verbose_name = "staging areas"

    def ready(self) -> None:
        from p3s.staging import checks  # noqa: F401  (registers the system check)

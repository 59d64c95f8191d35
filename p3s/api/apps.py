from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "p3s.api"
    label = "api"

    def ready(self) -> None:
        from p3s.api import schema  # noqa: F401  (registers the OpenAPI auth extension)

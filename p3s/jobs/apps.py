from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "p3s.jobs"
    label = "jobs"

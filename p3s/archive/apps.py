from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "p3s.archive"
    label = "archive"
    verbose_name = "Retention, archive and pruning"

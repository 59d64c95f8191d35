from django.apps import AppConfig


class DqmConfig(AppConfig):
    name = "p3s.dqm"
    label = "dqm"

    def ready(self) -> None:
        from p3s.dqm import alarms, services

        # Alarm rules are checked as metrics arrive (once, however often ready() runs).
        if alarms.check_metrics not in services.metric_listeners:
            services.metric_listeners.append(alarms.check_metrics)

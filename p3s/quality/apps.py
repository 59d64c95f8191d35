from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "p3s.quality"
    label = "quality"
    verbose_name = "data quality"

    def ready(self) -> None:
        from p3s.dqm import services
        from p3s.quality import evaluate

        # Checks run as metrics and histogram products arrive (once, however often ready() runs).
        if evaluate.evaluate_metrics not in services.metric_listeners:
            services.metric_listeners.append(evaluate.evaluate_metrics)
        if evaluate.evaluate_product not in services.product_listeners:
            services.product_listeners.append(evaluate.evaluate_product)

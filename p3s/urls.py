from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from p3s.api.metrics import metrics_view
from p3s.api.views import HealthView, SummaryView

urlpatterns = [
    path("api/v1/summary/", SummaryView.as_view(), name="summary"),
    path("api/v1/", include("p3s.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", HealthView.as_view(), name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("p3s.front.urls")),
]

from rest_framework.routers import DefaultRouter

from p3s.api import dag_views, dqm_views, views
from p3s.conditions import api as conditions_api
from p3s.quality import api as quality_api

dag_views.describe_dag_viewset(views.DagViewSet)

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("files", views.FileViewSet, basename="file")
router.register("pilots", views.PilotViewSet, basename="pilot")
router.register("jobs", views.JobViewSet, basename="job")
router.register("dagruns", views.DagRunViewSet, basename="dagrun")
router.register("dags", views.DagViewSet, basename="dag")
router.register("alarms", dqm_views.AlarmViewSet, basename="alarm")
router.register("products", dqm_views.ProductViewSet, basename="product")
router.register("metrics", dqm_views.MetricViewSet, basename="metric")

urlpatterns = (
    dag_views.urlpatterns + router.urls + conditions_api.urlpatterns + quality_api.urlpatterns
)

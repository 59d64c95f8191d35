from django.urls import path

from p3s.front import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]

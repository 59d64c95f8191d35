from django.urls import path, re_path

from p3s.front import assets, views

app_name = "front"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("runs/", views.runs, name="runs"),
    path("runs/<int:run>/", views.run_detail, name="run"),
    path("runs/<int:run>/signoff/", views.run_signoff, name="run-signoff"),
    path("checks/", views.element_checks, name="checks"),
    path("compare/", views.compare, name="compare"),
    path("dagruns/<int:pk>/", views.dagrun_detail, name="dagrun"),
    path("jobs/", views.jobs, name="jobs"),
    path("failures/", views.triage, name="triage"),
    path("jobs/bulk/", views.jobs_bulk, name="jobs-bulk"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/log/", views.job_log, name="job-log"),
    path("jobs/<int:pk>/retry/", views.job_retry, name="job-retry"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<int:pk>/priority/", views.job_priority, name="job-priority"),
    path("products/", views.products, name="products"),
    path("products/grid/", views.gallery_grid, name="products-grid"),
    path("products/grid/save/", views.gallery_layout_save, name="products-grid-save"),
    path("products/<int:pk>/", views.product_detail, name="product"),
    path("products/<int:pk>/file", views.product_file, name="product-file"),
    path("products/<int:pk>/embed", views.product_embed, name="product-embed"),
    path("products/<int:pk>/thumb", views.product_thumb, name="product-thumb"),
    path("charts/", views.strip_charts, name="charts"),
    path("charts/data/", views.strip_chart_data, name="charts-data"),
    path("alarms/", views.alarms, name="alarms"),
    path("alarms/<int:pk>/ack/", views.alarm_ack, name="alarm-ack"),
    path("pilots/", views.pilots, name="pilots"),
    re_path(
        r"^bokehjs/(?P<version>[0-9][0-9A-Za-z.+-]*)/(?P<path>.+)$", assets.bokehjs, name="bokehjs"
    ),
    path("static/<path:path>", assets.static_file, name="static"),
]

"""Operator pages (server-rendered), one module per page family.

Views read with aggregate queries and act through domain calls. Every list is paginated; every
page makes a bounded number of queries however many jobs there are
(tests/front/test_query_counts.py holds them to it).
"""

from p3s.front.views.alarms import alarm_ack, alarms
from p3s.front.views.charts import strip_chart_data, strip_charts
from p3s.front.views.dashboard import dashboard, dqm_latency
from p3s.front.views.joblog import job_log
from p3s.front.views.jobs import job_cancel, job_detail, job_priority, job_retry, jobs, jobs_bulk
from p3s.front.views.layouts import gallery_grid, gallery_layout_save
from p3s.front.views.pilots import pilots
from p3s.front.views.products import (
    product_detail,
    product_embed,
    product_file,
    product_thumb,
    products,
)
from p3s.front.views.quality import compare, element_checks, run_signoff
from p3s.front.views.runs import dagrun_detail, run_detail, runs
from p3s.front.views.triage import triage

__all__ = [
    "alarm_ack",
    "alarms",
    "compare",
    "element_checks",
    "run_signoff",
    "dagrun_detail",
    "job_log",
    "dashboard",
    "dqm_latency",
    "gallery_grid",
    "gallery_layout_save",
    "job_cancel",
    "job_detail",
    "job_priority",
    "job_retry",
    "jobs",
    "jobs_bulk",
    "pilots",
    "product_detail",
    "product_embed",
    "product_file",
    "product_thumb",
    "products",
    "run_detail",
    "runs",
    "strip_chart_data",
    "strip_charts",
    "triage",
]

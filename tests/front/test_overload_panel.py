"""The dashboard's overload panel: drops by reason and the adaptive prescale's changes."""

from datetime import timedelta

from django.utils import timezone

from p3s.dags import flow, overload, spec
from p3s.dags.models import DataFile

ADAPTIVE = """
name: adapt
trigger: {stream: diag}
policy:
  adaptive_prescale: {budget: 60, stages: [b], interval: 0}
stages:
  a: {payload: diag, timeout: 60}
  b: {payload: diag, parents: [a], timeout: 60}
"""


def test_the_dashboard_shows_drops_apart_and_the_adaptive_changes(operator, client_of):
    flow.apply_spec(spec.load(ADAPTIVE), actor="test")
    flow.announce_file(
        {
            "url": "file:///d/x.h5",
            "name": "x.h5",
            "stream": "diag",
            "run": 1,
            "data_ts": timezone.now(),
        },
        actor="test",
    )
    c = client_of(operator())
    html = c.get("/").content.decode()
    assert "No template has an adaptive prescale" not in html
    assert "dropped because behind <b>0</b>" in html
    DataFile.objects.update(created=timezone.now() - timedelta(seconds=300))
    assert overload.adapt_prescale() == 1
    html = c.get("/").content.decode()
    assert 'id="overload"' in html and "factor 1 -&gt; 0.5" in html
    assert "<b>0.500</b>" in html  # effective prescale of b now

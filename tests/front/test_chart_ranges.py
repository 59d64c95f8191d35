"""Strip chart time ranges: quick ranges end at the latest data, a run draws its data-time
span with its marker, from/to is honoured, bad input is a clear warning (page) or 400 (data)."""

from datetime import timedelta

import pytest

from p3s.front import chartwindow as cw

from .chartdata import RUN_LENGTH, RUNS, T0, chart_world

pytestmark = pytest.mark.django_db

LATEST = RUNS[6003] + RUN_LENGTH


def data(client, **params):
    return client.get("/charts/data/", {"metric": "adc_rms", **params})


def test_last_hour_ends_at_the_latest_data_and_marks_only_the_runs_in_it(
    dqm_world, operator, client_of
):
    chart_world(dqm_world)
    c = client_of(operator())
    body = data(c, range="1h").json()
    assert body["until"] == LATEST.isoformat()
    assert body["since"] == (LATEST - timedelta(hours=1)).isoformat()
    assert [r["run"] for r in body["runs"]] == [6003]
    assert body["npoints"] == 13 * 3  # 12:20 .. 13:20 every 5 min, 3 APAs
    shift = data(c, range="shift").json()
    assert [r["run"] for r in shift["runs"]] == [6001, 6002, 6003]
    assert shift["npoints"] == 3 * 13 * 3


def test_a_run_draws_its_data_time_span_with_its_marker(dqm_world, operator, client_of):
    chart_world(dqm_world)
    c = client_of(operator())
    body = data(c, run="6002").json()
    assert body["since"] == RUNS[6002].isoformat()
    assert body["until"] == (RUNS[6002] + RUN_LENGTH).isoformat()
    assert [r["run"] for r in body["runs"]] == [6002]
    models = body["item"]["doc"]["roots"][0]["attributes"]
    text = repr(body["item"])
    assert "run 6002" in text and "run 6001" not in text
    assert models["x_range"]["attributes"]["name"] == "time"


def test_from_to_is_the_window(dqm_world, operator, client_of):
    chart_world(dqm_world)
    c = client_of(operator())
    body = data(c, since="2026-11-21T10:50:00", until="2026-11-21T11:20:00").json()
    assert body["since"] == (T0 + timedelta(minutes=50)).isoformat()
    assert [r["run"] for r in body["runs"]] == [6001, 6002]
    # 10:50, 10:55, 11:00 of run 6001 and 11:10, 11:15, 11:20 of run 6002
    assert body["npoints"] == 6 * 3


@pytest.mark.parametrize(
    "params, field",
    [
        ({"range": "fortnight"}, "range"),
        ({"run": "abc"}, "run"),
        ({"run": "99"}, "run"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-21T12:00", "until": "2026-11-21T11:00"}, "since"),
        ({"since": "2026-01-01T00:00", "until": "2026-11-21T11:00"}, "since"),
        ({"hours": "5"}, "hours"),
        ({"metric": "no_such_metric"}, "metric"),
    ],
)
def test_bad_input_is_a_400_that_says_which_field(dqm_world, operator, client_of, params, field):
    chart_world(dqm_world)
    resp = data(client_of(operator()), **params)
    assert resp.status_code == 400
    assert resp.json()["field"] == field and resp.json()["detail"]


def test_the_page_warns_about_bad_input_and_draws_the_default_range(dqm_world, operator, client_of):
    chart_world(dqm_world)
    resp = client_of(operator()).get("/charts/", {"metric": "adc_rms", "run": "99"})
    assert resp.status_code == 200
    page = resp.content.decode()
    assert "run 99 has no data files" in page
    assert resp.context["window"].kind == cw.DEFAULT_RANGE
    assert 'id="chart-data"' in page


def test_the_page_lists_recent_runs_and_keeps_the_refresh_choice(dqm_world, operator, client_of):
    chart_world(dqm_world)
    resp = client_of(operator()).get("/charts/", {"metric": "adc_rms", "refresh": "60"})
    assert resp.context["recent_runs"] == [6003, 6002, 6001]
    assert resp.context["refresh"] == 60
    assert 'data-refresh="60"' in resp.content.decode()
    odd = client_of(operator("olga2")).get("/charts/", {"metric": "adc_rms", "refresh": "7"})
    assert odd.context["refresh"] == 0  # not a choice: off


def test_the_chart_data_needs_a_role(dqm_world, nobody, client_of, client):
    chart_world(dqm_world)
    assert client_of(nobody()).get("/charts/data/", {"metric": "adc_rms"}).status_code == 403
    assert client.get("/charts/data/", {"metric": "adc_rms"}).status_code == 302


def test_a_run_of_one_instant_still_gets_a_readable_axis():
    since = T0
    assert cw.Window("custom", since=since, until=since).kind == "custom"
    from p3s.front.charts import MIN_WINDOW, _time_range

    rng = _time_range((since, since), [(since, 1.0, {}, 1)])
    assert rng.end - rng.start == MIN_WINDOW

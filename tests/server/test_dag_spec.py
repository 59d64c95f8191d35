"""DAG templates: validation refuses bad graphs with the reason; versions and live tunables."""

import pytest

from p3s.dags import flow, spec
from p3s.exceptions import InvalidDag
from tests.conftest import FANOUT_JOIN

PAYLOADS = {"diag", "dqm-adc"}


def load(text):
    return spec.load(text, payloads=PAYLOADS)


def test_a_fan_out_and_join_is_accepted_with_later_stages_at_higher_priority():
    dag = load(FANOUT_JOIN)
    assert dag.order == ["a", "b", "c", "d"]
    assert dag.roots() == ["a"]
    assert [dag.tunables[s]["priority"] for s in "abcd"] == [10, 20, 20, 30]
    assert dag.children("a") == ["b", "c"]


@pytest.mark.parametrize(
    "bad, reason",
    [
        (
            FANOUT_JOIN.replace(
                "parents: [a], timeout: 60}\n  c", "parents: [a, d], timeout: 60}\n  c"
            ),
            "form a cycle",
        ),
        (FANOUT_JOIN.replace("a: {payload: diag,", "a: {payload: diag, parents: [a],"), "cycle"),
        (FANOUT_JOIN.replace("d: {payload: diag", "d: {payload: rm-rf"), "unknown payload 'rm-rf'"),
        (FANOUT_JOIN.replace("parents: [b, c]", "parents: [b, x]"), "unknown parent 'x'"),
        (
            FANOUT_JOIN.replace(
                "a: {payload: diag, timeout: 60}", "a: {payload: diag, timeout: -1}"
            ),
            "out of range",
        ),
        (
            FANOUT_JOIN.replace(
                "a: {payload: diag, timeout: 60}", "a: {payload: diag, prescale: 1.5}"
            ),
            "prescale = 1.5 is out of range",
        ),
        (
            FANOUT_JOIN.replace(
                "a: {payload: diag, timeout: 60}", "a: {payload: diag, event_fraction: 0}"
            ),
            "event_fraction",
        ),
        (
            FANOUT_JOIN.replace(
                "a: {payload: diag, timeout: 60}", "a: {payload: diag, max_attempts: 0}"
            ),
            "max_attempts",
        ),
        (
            FANOUT_JOIN.replace(
                "a: {payload: diag, timeout: 60}", "a: {payload: diag, max_attempts: 1.5}"
            ),
            "whole number",
        ),
        (
            FANOUT_JOIN.replace(
                "a: {payload: diag, timeout: 60}", "a: {payload: diag, timeout: yes}"
            ),
            "must be a number",
        ),
        (
            FANOUT_JOIN.replace(
                "a: {payload: diag, timeout: 60}", "a: {payload: diag, colour: red}"
            ),
            "unknown keys colour",
        ),
        (FANOUT_JOIN.replace("trigger: {stream: diag}", ""), "trigger must be"),
        (FANOUT_JOIN.replace("name: fanjoin", "name: Fan Join"), "name 'Fan Join'"),
        ("stages: [1, 2", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
    ],
)
def test_invalid_templates_are_refused_with_the_reason(bad, reason):
    with pytest.raises(InvalidDag, match=reason.replace("(", r"\(").replace("[", r"\[")):
        load(bad)


def test_a_cycle_is_named_in_the_error():
    text = """
name: loop
trigger: {stream: x}
stages:
  a: {payload: diag}
  b: {payload: diag, parents: [a, d]}
  c: {payload: diag, parents: [b]}
  d: {payload: diag, parents: [c]}
"""
    with pytest.raises(InvalidDag) as err:
        load(text)
    assert "b, c, d" in str(err.value) or "c, d, b" in str(err.value) or "d, b, c" in str(err.value)


def test_args_mapping_becomes_command_line_options():
    dag = load(
        FANOUT_JOIN.replace(
            "a: {payload: diag, timeout: 60}",
            "a: {payload: diag, args: {seconds: 2, exit_code: 1, verbose: true, quiet: false}}",
        )
    )
    assert dag.graph["a"]["args"] == ["--seconds", "2", "--exit-code", "1", "--verbose"]


@pytest.mark.django_db
def test_changing_the_graph_makes_a_new_version_and_running_dag_runs_keep_theirs(
    make_dag, announce
):
    template = make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    assert template.current_version.number == 1
    changed = FANOUT_JOIN.replace(
        "d: {payload: diag, parents: [b, c]",
        "d: {payload: diag, parents: [b, c], args: [--seconds, '1']",
    )
    applied = flow.apply_spec(spec.load(changed), actor="test")
    assert applied.new_version and applied.template.current_version.number == 2
    run.refresh_from_db()
    assert run.version.number == 1
    assert announce().dagruns[0].version.number == 2


@pytest.mark.django_db
def test_changing_only_tunables_keeps_the_version_and_reprioritises_waiting_jobs(
    make_dag, announce
):
    make_dag(FANOUT_JOIN)
    job = announce().dagruns[0].jobs.get(stage="a")
    assert job.priority == 10
    applied = flow.apply_spec(
        spec.load(
            FANOUT_JOIN.replace(
                "a: {payload: diag, timeout: 60}", "a: {payload: diag, timeout: 90, priority: 77}"
            )
        ),
        actor="test",
    )
    assert not applied.new_version and applied.template.current_version.number == 1
    job.refresh_from_db()
    assert job.priority == 77
    assert applied.template.stage_settings.get(stage="a").timeout == 90


def test_yaml_round_trip_keeps_the_template():
    dag = load(FANOUT_JOIN)
    again = load(spec.dump_yaml(dag))
    assert again.to_dict() == dag.to_dict()

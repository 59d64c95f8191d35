"""The check catalogue loads from YAML beside the DAG templates: missing checks and alarm rules
are created, an expert's edits are never overwritten, a bad file is refused whole."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from p3s.dqm.models import AlarmRule
from p3s.quality.catalogue import DEFAULTS, load_checks
from p3s.quality.models import Check

SHIPPED_METRICS = {
    "adc_rms_mean", "adc_pedestal_mean", "adc_asic_pedestal_shift", "adc_asic_rms_ratio",
    "adc_dead_fraction", "adc_femb_missing", "adc_dead_channels", "adc_noisy_channels",
    "fft_line_max_amplitude", "adc_rms", "adc_pedestal", "fft_spectrum", "",
}  # fmt: skip


def test_loading_the_dag_templates_loads_the_shipped_checks_and_alarm_rules(db):
    out = StringIO()
    call_command("p3s_load_dags", stdout=out)
    assert "created" in out.getvalue()
    assert Check.objects.filter(template="tpc-dqm", stream="tpc", enabled=True).count() >= 15
    assert set(Check.objects.filter(source="tpc-checks.yaml").values_list("metric", flat=True)) == (
        SHIPPED_METRICS
    )
    assert set(Check.objects.values_list("kind", flat=True)) == {
        "range", "reference_hist", "reference_metric", "bad_channels_new", "band"}  # fmt: skip
    rules = set(AlarmRule.objects.values_list("name", flat=True))
    assert {
        "noise-rms-high",
        "dead-channels-high",
        "femb-missing",
        "daq-silent",
        "dqm-latency",
    } <= rules
    assert {c.source for c in Check.objects.all()} == {"tpc-checks.yaml", "streams-checks.yaml"}
    assert Check.objects.filter(name="crt-tpc-match-fraction", template="streams-dqm").exists()


def test_reloading_never_overwrites_an_experts_edit(db):
    load_checks()
    edited = Check.objects.get(name="noise-rms-plane")
    edited.warning_high, edited.enabled = 5.5, False
    edited.save()
    rule = AlarmRule.objects.get(name="noise-rms-high")
    rule.threshold = 7.0
    rule.save()
    Check.objects.filter(name="femb-missing").delete()
    again = load_checks()
    assert again.created == ["check femb-missing"]
    edited.refresh_from_db()
    assert (edited.warning_high, edited.enabled) == (5.5, False)
    assert AlarmRule.objects.get(name="noise-rms-high").threshold == 7.0


@pytest.mark.parametrize(
    "text,message",
    [
        ("checks: [{name: a, kind: nonsense, metric: m}]", "kind must be one of"),
        ("checks: [{name: a, kind: range, metric: m, warning: [1]}]", "[low, high]"),
        ("checks: [{name: a, kind: range, metric: m, colour: red}]", "unknown keys"),
        ("checks: [{kind: range}]", "needs a name"),
        ("alarm_rules: [{name: r, metric: m, threshold: high}]", "threshold must be a number"),
        ("checks: [", "while parsing"),
    ],
)
def test_a_bad_checks_file_is_refused_whole_with_a_message_naming_it(db, tmp_path, text, message):
    good = tmp_path / "a-checks.yaml"
    good.write_text("checks: [{name: fine, kind: range, metric: m, error: [0, 1]}]")
    bad = tmp_path / "b-checks.yaml"
    bad.write_text(text)
    with pytest.raises(CommandError, match="b-checks.yaml") as err:
        call_command("p3s_load_checks", str(good), str(bad), stdout=StringIO())
    assert message in str(err.value)
    assert not Check.objects.exists()


def test_the_shipped_files_sit_beside_the_dag_templates_and_name_their_template(db):
    from p3s.dags.management.commands.p3s_load_dags import DEFAULTS as DAGS

    templates = {p.stem for p in DAGS.glob("*.yaml")}
    load_checks()
    assert set(Check.objects.values_list("template", flat=True)) <= templates
    assert sorted(p.name for p in DEFAULTS.glob("*.yaml")) == [
        "streams-checks.yaml",
        "tpc-checks.yaml",
    ]

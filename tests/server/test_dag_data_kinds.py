"""Validation knows data: a stage whose parents do not provide its inputs is refused, with the
reason, by the spec, the admin editor and the API alike (issue 14)."""

import pytest

from p3s.dags import payload_io, spec
from p3s.dags.models import DagTemplate
from p3s.exceptions import InvalidDag

TPC_DEFAULT = (spec.__file__.rsplit("/", 1)[0]) + "/defaults/tpc-dqm.yaml"

#: The case of the issue: the Vis payload fed only by the ADC+FFT stage.
VIS_ON_ADCFFT = """
name: broken-vis
trigger: {stream: tpc, pattern: "*.h5"}
stages:
  adcfft: {payload: dqm-adcfft}
  vis: {payload: dqm-vis, parents: [adcfft]}
"""


def test_the_shipped_templates_pass():
    for name in ("tpc-dqm", "bi-dqm", "crt-dqm", "diag"):
        with open(TPC_DEFAULT.replace("tpc-dqm", name)) as f:
            spec.load(f.read())


def test_vis_fed_only_by_adcfft_is_refused_with_the_reason():
    with pytest.raises(InvalidDag) as err:
        spec.load(VIS_ON_ADCFFT)
    msg = str(err.value)
    assert "stage 'vis' (dqm-vis) needs a SIG output (p3s-sig/1) from a parent" in msg
    assert "adcfft: dqm-adcfft makes ADC+FFT summary (p3s-adcfft/1)" in msg
    assert "dqm-sig stage makes one" in msg


def test_a_grandparent_does_not_count_the_pilot_hands_direct_parents_outputs_only():
    text = """
name: indirect
trigger: {stream: tpc}
stages:
  sig: {payload: dqm-sig}
  daq: {payload: dqm-daq, parents: [sig]}
  reco: {payload: dqm-reco, parents: [daq]}
"""
    with pytest.raises(
        InvalidDag,
        match=r"stage 'reco' \(dqm-reco\) needs a SIG output.*daq: dqm-daq makes no data output",
    ):
        spec.load(text)


def test_a_root_that_needs_a_parent_output_is_refused():
    with pytest.raises(InvalidDag, match="stage 'reco'.*it has no parents"):
        spec.load("name: x\ntrigger: {stream: tpc}\nstages:\n  reco: {payload: dqm-reco}\n")


def test_optional_inputs_are_optional_and_sig_alone_feeds_vis():
    spec.load(
        "name: x\ntrigger: {stream: tpc}\nstages:\n  sig: {payload: dqm-sig}\n"
        "  vis: {payload: dqm-vis, parents: [sig]}\n"
    )


def test_a_payload_on_the_wrong_raw_stream_is_refused():
    with pytest.raises(
        InvalidDag, match="stage 'a' \\(dqm-adcfft\\) reads raw files of the stream tpc.*'crt'"
    ):
        spec.load("name: x\ntrigger: {stream: crt}\nstages:\n  a: {payload: dqm-adcfft}\n")


def test_every_installed_payload_is_declared():
    assert spec.known_payloads() - set(payload_io.DECLARED) == set()


@pytest.mark.django_db
def test_the_api_refuses_it_with_the_reason_and_stores_nothing(expert):
    r = expert.post("/api/v1/dags/", VIS_ON_ADCFFT, content_type="application/yaml")
    assert r.status_code == 400, r.content
    assert "needs a SIG output" in r.content.decode()
    assert not DagTemplate.objects.filter(name="broken-vis").exists()


@pytest.mark.django_db
def test_the_admin_editor_refuses_it_with_the_reason(client, django_user_model):
    user = django_user_model.objects.create_superuser("ex", "ex@x.invalid", "pw")
    client.force_login(user)
    r = client.post("/admin/dags/dagtemplate/add/", {"yaml": VIS_ON_ADCFFT})
    assert r.status_code == 200
    assert "needs a SIG output (p3s-sig/1) from a parent" in r.content.decode()
    assert not DagTemplate.objects.filter(name="broken-vis").exists()

"""A split stage's part processes only its share of the file (``--split``, p3s.dags.split)."""

import argparse

import h5py
import pytest

from payloads.daqsim import writer
from payloads.errors import InputError
from payloads.jobio import url_to_path
from payloads.rawio import FORMAT_TPC, RawFile
from payloads.stages import adcfft, common, sig
from tests.payloads.conftest import START


@pytest.fixture(scope="module")
def two_apa_file(tmp_path_factory):
    return writer.write_tpc_file(
        tmp_path_factory.mktemp("raw2"),
        seed=5,
        run=7,
        subrun=2,
        n_events=4,
        apas=[0, 1],
        start=START,
    )


def shares(path, split):
    with RawFile(path, expect=FORMAT_TPC) as raw:
        common.apply_split(raw, argparse.Namespace(split=split))
        return list(raw.apas), [int(e) for e in raw.event_numbers()], raw.n_events


def test_apa_and_event_shares_cover_the_file_once(two_apa_file):
    path = two_apa_file.path
    assert shares(path, None) == ([0, 1], [0, 1, 2, 3], 4)
    assert [shares(path, f"apa:{k}/2")[0] for k in range(2)] == [[0], [1]]
    events = [shares(path, f"events:{k}/3")[1] for k in range(3)]
    assert sorted(e for es in events for e in es) == [0, 1, 2, 3] and all(events)
    with pytest.raises(common.EmptyShare):
        shares(path, "apa:2/3")
    for bad in ("apa:2/2", "rows:0/2", "apa:x/2"):
        with pytest.raises(InputError, match="--split"):
            shares(path, bad)


def test_split_adcfft_parts_feed_one_sig_that_sees_every_apa(run_job, two_apa_file):
    data = two_apa_file.path.resolve().as_uri()
    outs = []
    for k in range(2):
        code, res = run_job(
            adcfft.main,
            inputs=[data],
            args=["--no-plots", "--split", f"apa:{k}/2"],
            stage="adcfft",
            job_id=10 + k,
        )
        assert code == 0
        (out,) = res["outputs"]
        with h5py.File(url_to_path(out)) as h5:
            assert [g for g in h5 if g.startswith("apa_")] == [f"apa_{k}"]
        assert {m["labels"].get("apa") for m in res["metrics"]} >= {str(k)}
        assert str(1 - k) not in {m["labels"].get("apa") for m in res["metrics"]}
        outs.append(out)
    code, res = run_job(
        sig.main,
        inputs=[data],
        parents={"adcfft": outs},
        args=["--no-plots"],
        fraction=0.25,
        stage="sig",
        job_id=12,
    )
    assert code == 0
    with h5py.File(url_to_path(res["outputs"][0])) as h5:
        assert h5.attrs["channel_info"] == "parent dqm-adcfft"
        assert list(h5.attrs["apas"]) == [0, 1]


def test_an_empty_share_succeeds_with_nothing_to_do(run_job, two_apa_file, capsys):
    data = two_apa_file.path.resolve().as_uri()
    code, res = run_job(adcfft.main, inputs=[data], args=["--split", "apa:2/3"], job_id=20)
    assert code == 0 and res == {"outputs": [], "metrics": [], "products": []}
    assert "nothing to do" in capsys.readouterr().out


def _reco_apas(res):
    with h5py.File(url_to_path(res["outputs"][0])) as h5:
        return sorted({int(a.split("_")[1]) for ev in h5.values() for a in ev})


def test_split_sig_parts_feed_one_reco_and_vis_or_reco_parts_of_their_own(run_job, two_apa_file):
    from payloads.stages import reco, vis

    data = two_apa_file.path.resolve().as_uri()
    outs = []
    for k in range(2):  # two SIG parts, each with its own adcfft part as parent
        code, res = run_job(
            adcfft.main,
            inputs=[data],
            args=["--no-plots", "--split", f"apa:{k}/2"],
            stage="adcfft",
            job_id=30 + k,
        )
        assert code == 0
        code, res = run_job(
            sig.main,
            inputs=[data],
            parents={"adcfft": res["outputs"]},
            args=["--no-plots", "--split", f"apa:{k}/2"],
            fraction=0.5,
            stage="sig",
            job_id=40 + k,
        )
        assert code == 0
        with h5py.File(url_to_path(res["outputs"][0])) as h5:
            assert list(h5.attrs["apas"]) == [k]
        outs.append(res["outputs"][0])
    # one RECO and one VIS over both parts: every APA
    code, res = run_job(
        reco.main, inputs=[data], parents={"sig": outs}, args=["--no-plots"], job_id=50
    )
    assert code == 0 and _reco_apas(res) == [0, 1]
    assert {m["labels"]["apa"] for m in res["metrics"] if "apa" in m["labels"]} == {"0", "1"}
    code, res = run_job(
        vis.main, inputs=[data], parents={"sig": outs, "reco": res["outputs"]}, job_id=51
    )
    assert code == 0
    assert {p["labels"].get("apa") for p in res["products"]} == {"0", "1"}
    # RECO split like SIG: each part its own APA; a part beyond the APAs has nothing to do
    for k in range(2):
        code, res = run_job(
            reco.main,
            inputs=[data],
            parents={"sig": outs},
            args=["--no-plots", "--split", f"apa:{k}/2"],
            job_id=60 + k,
        )
        assert code == 0 and _reco_apas(res) == [k]
    code, res = run_job(
        reco.main, inputs=[data], parents={"sig": outs}, args=["--split", "apa:2/3"], job_id=62
    )
    assert code == 0 and res["outputs"] == []

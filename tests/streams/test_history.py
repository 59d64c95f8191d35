"""One clock: TPC, BI and CRT files written separately for the same times come from the same
beam and cosmic history - spills in BI, beam particles and cosmic muons in the TPC, CRT hits
from the same muons."""

from dataclasses import replace
from datetime import UTC, datetime

import h5py
import numpy as np
import pytest

from payloads.daqsim import history as hist
from payloads.daqsim import writer
from payloads.daqsim.tpc import SimConfig
from payloads.daqsim.truth import load_json_truth, load_tpc_truth

H = hist.HistoryConfig(seed=3, run=7, sim=SimConfig(noise=False))


def spill_start() -> float:
    t = datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp()
    return hist.spills(H, t, t + H.cycle_s)[0][0]


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def test_spills_repeat_every_supercycle_and_tag_the_triggers_inside_them():
    s0 = spill_start()
    spills = hist.spills(H, s0, s0 + 3 * H.cycle_s)
    assert [round(b - a, 6) for a, b in spills] == [H.spill_s] * 4
    assert np.allclose(np.diff([a for a, _ in spills]), H.cycle_s)
    assert hist.beam_on(H, s0 + 1.0) and not hist.beam_on(H, s0 + H.spill_s + 1.0)
    assert hist.beam_bucket(H, s0 + H.spill_s + 1.0)["time"].size == 0


def test_a_bi_file_is_one_supercycle_holding_its_spill_and_every_beam_particle(tmp_path):
    s0 = spill_start()
    info = writer.write_bi_file(
        tmp_path, seed=3, run=7, subrun=1, n_events=99, start=at(s0 + 2.0), history=H
    )
    truth = load_json_truth(info.path)
    assert truth["spills"] == [[s0, s0 + H.spill_s]]
    with h5py.File(info.path) as h5:
        assert h5.attrs["n_events"] == 1
        start = datetime.fromisoformat(info.timestamp.replace("Z", "+00:00")).timestamp()
        end = datetime.fromisoformat(info.timestamp_end.replace("Z", "+00:00")).timestamp()
        assert end - start == pytest.approx(H.cycle_s) and start <= s0 <= end
        times = h5["event_0/time_s"][()]
        species = h5["event_0/species"][()]
    triggers = hist.beam_triggers(H, s0, s0 + H.spill_s)
    assert len(triggers) in (19, 20)  # 4.8 s of spill on the 0.25 s trigger grid
    assert all(hist.beam_on(H, float(t)) for t in triggers)
    assert set(np.round(triggers, 3)) <= set(np.round(times, 3))  # each trigger's particle
    assert np.bincount(species, minlength=4).tolist() == truth["composition"][0]
    assert info.announcement()["data_ts_end"] == info.timestamp_end


def test_tpc_and_crt_files_of_the_same_times_see_the_same_muons(tmp_path):
    s0 = spill_start()
    t0 = s0 + H.spill_s - 0.1  # a beam trigger, then a trigger outside the spill
    tpc = writer.write_tpc_file(
        tmp_path, seed=3, run=7, subrun=1, n_events=2, apas=[0], start=at(t0), cfg=H.sim, history=H
    )
    crt = writer.write_crt_file(
        tmp_path, seed=3, run=7, subrun=1, n_events=2, start=at(t0), history=H
    )
    assert tpc.timestamp == crt.timestamp and tpc.timestamp_end == crt.timestamp_end
    truth = load_tpc_truth(tpc.path)
    tags = load_json_truth(crt.path)["tags"]
    with h5py.File(tpc.path) as h5:
        triggers = [h5[f"event_{i}"].attrs["trigger"] for i in range(2)]
    assert triggers == ["beam", "random"]
    for i in range(2):
        tracks = truth.event(i, 0).tracks
        expected = hist.tpc_tracks(H, t0 + 0.25 * i, 0)
        assert np.array_equal(tracks["t0"], expected["t0"])
        # the beam particle rides along the beam axis (z) on the beam trigger only
        along_z = np.abs(tracks["end"][:, 2] - tracks["start"][:, 2]) > 300
        beam_like = along_z & (tracks["t0"] == H.beam_tick)
        assert beam_like.sum() == (1 if i == 0 else 0)
        # every CRT tag on APA 0 is a TPC muon entering through the top, at its time
        mine = [t for t in tags[str(i)] if t[0] == 0]
        cosmic = hist.cosmic_tracks(H, t0 + 0.25 * i, 0)
        for _apa, _face, k, time_ns, _x, _z in mine:
            assert cosmic[k]["t0"] * 500.0 == pytest.approx(time_ns)
            assert max(cosmic[k]["start"][1], cosmic[k]["end"][1]) >= 5999.0
    with h5py.File(crt.path) as h5:
        n_hits = h5["event_0/hits"].size
    assert n_hits > 2 * len(tags["0"]) * 0.8  # the tags' hits over the random ones


def test_another_seed_is_another_history():
    t = spill_start() + 1.0
    other = replace(H, seed=4)
    assert not np.array_equal(
        hist.cosmic_tracks(H, t, 0)["t0"], hist.cosmic_tracks(other, t, 0)["t0"]
    )

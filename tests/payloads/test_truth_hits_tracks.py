"""Hits and straight-track counts on collection against injected cosmic muons."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.tpc import SimConfig
from payloads.daqsim.tpc import simulate_apa as simulate
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm.reco import reconstruct_collection
from payloads.dqm.sig import process_apa

pytestmark = pytest.mark.slow  # about 20 s: 10 APA-events simulated and processed

N_EVENTS = 10


@pytest.fixture(scope="module")
def events():
    out = []
    for e in range(N_EVENTS):
        n_tracks = 1 + e % 5
        adc, truth, static = simulate(SimConfig(separated_tracks=n_tracks), seed=51, event=e)
        bad = adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET)
        excl = bad["dead"] | bad["noisy"]
        res = process_apa(adc, DET, sticky=bad["sticky"], bad=excl)
        rec = reconstruct_collection(res.deconvolved, res.rms_deconvolved, DET)
        out.append((truth, rec, excl))
    return out


def truth_regions(charge: np.ndarray, excl: np.ndarray) -> list[tuple[int, int, int]]:
    """(channel, first tick, last tick) of each run of deposited charge on live collection wires."""
    regions = []
    sl = DET.plane_slice(2)
    for ch in range(sl.start, sl.stop):
        if excl[ch]:
            continue
        ticks = np.flatnonzero(charge[ch] > 0)
        if ticks.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(ticks) > 2 * tol.HIT_PAD_TICKS)
        for run in np.split(ticks, breaks + 1):
            if charge[ch, run].sum() >= tol.HIT_MIN_ELECTRONS:
                regions.append((ch, int(run[0]), int(run[-1])))
    return regions


def match(truth, rec, excl):
    regions = truth_regions(truth.charge, excl)
    hits = rec["hits"]
    pad = tol.HIT_PAD_TICKS
    found = 0
    for ch, t0, t1 in regions:
        on = hits[hits["channel"] == ch]
        found += bool(np.any((on["peak_tick"] >= t0 - pad) & (on["peak_tick"] <= t1 + pad)))
    good = 0
    by_ch: dict[int, list] = {}
    for ch, t0, t1 in regions:
        by_ch.setdefault(ch, []).append((t0, t1))
    for h in hits:
        good += any(
            t0 - pad <= h["peak_tick"] <= t1 + pad for t0, t1 in by_ch.get(int(h["channel"]), [])
        )
    return found, len(regions), good, hits.size


def test_hit_efficiency_and_purity_for_mip_tracks(events):
    totals = np.array([match(*ev) for ev in events]).sum(axis=0)
    found, n_regions, good, n_hits = totals
    assert n_regions > 500
    assert found / n_regions >= tol.HIT_EFFICIENCY_MIN
    assert good / n_hits >= tol.HIT_PURITY_MIN


def test_track_count_is_exact_for_separated_tracks(events):
    exact = [rec["n_tracks"] == truth.tracks.size for truth, rec, _ in events]
    assert np.mean(exact) >= tol.TRACK_COUNT_EXACT_MIN, [
        (truth.tracks.size, rec["n_tracks"]) for truth, rec, _ in events
    ]


def test_hit_charge_of_a_mip_is_about_25000_electrons_per_wire(events):
    # tracks crossing wires at shallow drift angles: charge per wire ~ 25,000 e / cos
    truth, rec, _ = events[0]
    assert 15000 < np.median(rec["hits"]["integral"]) < 80000

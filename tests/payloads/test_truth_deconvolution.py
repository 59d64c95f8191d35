"""Deconvolution returns the deposited charge; notches take the pickup lines out."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.tpc import SimConfig, make_signal, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm
from payloads.dqm.reco import reconstruct_collection
from payloads.dqm.sig import process_apa
from payloads.stages.sig import comb_notches


def test_a_mip_on_collection_wires_deconvolves_to_25000_electrons_per_wire():
    charge = np.zeros((DET.n_channels, DET.n_ticks))
    wires = np.arange(1700, 1760)
    ticks = 2000 + 6 * (wires - wires[0])  # a track crossing 60 wires, one pitch = 6 ticks
    charge[wires, ticks] = 25000.0
    signal = make_signal(SimConfig(), charge)
    rng = np.random.default_rng(3)
    adc = np.rint(900 + signal + rng.normal(0, 3.5, signal.shape)).astype(np.int16)
    res = process_apa(adc, DET)
    rec = reconstruct_collection(res.deconvolved, res.rms_deconvolved, DET)
    hits = rec["hits"]
    on_track = np.isin(hits["channel"], wires)
    assert on_track.sum() == wires.size  # one hit per wire
    # the charge is the deconvolved waveform summed over the wire's ROI (zero outside ROIs);
    # a hit's integral covers only the main lobe above threshold, ~8 % more for a point charge
    # (the Wiener filter's negative side lobes carry the rest)
    ratio = res.deconvolved[wires].sum(axis=1) / 25000
    assert abs(ratio.mean() - 1) <= tol.COLLECTION_CHARGE_REL
    assert ratio.std() <= tol.CHARGE_SPREAD_MAX
    assert np.all(np.abs(hits["peak_tick"][on_track] - ticks) <= tol.PEAK_TICKS)
    assert rec["n_tracks"] == 1


@pytest.mark.parametrize("seed", [61, 65, pytest.param(66, marks=pytest.mark.slow)])
def test_notches_remove_the_pickup_lines(seed):
    # the generator puts each line anywhere within +-0.45 bin: off-bin lines leak far beyond
    # the notched bins unless the notch takes the fitted line out first (payloads/dqm/notch.py)
    adc, _, static = simulate_apa(SimConfig(line_apas=(0,), signals=False), seed=seed, event=0)
    bad = adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET)
    excl = bad["dead"] | bad["noisy"]
    comb = (fftm.comb_score(fftm.compute_power(adc), DET.freqs()) > 3.0) & ~excl
    res = process_apa(
        adc,
        DET,
        sticky=bad["sticky"],
        bad=excl,
        notches={p: static.line_freqs for p in range(3)},
        extra_notches=comb_notches(comb, 51.4e3, 600e3),
    )
    spectra = fftm.average_spectra(fftm.compute_power(res.filtered), DET, exclude=excl)
    for p in range(3):
        found = fftm.find_lines(spectra["plane"][p], DET.freqs())
        assert found == [], f"plane {p}: lines left after notching: {found}"


def test_comb_is_removed_without_cutting_the_signals():
    from payloads.dqm.sig import robust_rms
    from payloads.stages.sig import channel_info_from_data, channel_notches

    adc, truth, static = simulate_apa(SimConfig(line_apas=()), seed=7, event=0)
    ci = channel_info_from_data(adc, DET)
    res = process_apa(
        adc,
        DET,
        sticky=ci["sticky"],
        bad=ci["bad"],
        notches=ci["lines"],
        extra_notches=channel_notches(ci),
    )
    comb = np.setdiff1d(static.comb_channels, np.flatnonzero(ci["bad"]))
    others = np.setdiff1d(np.arange(DET.plane_slice(2).start, DET.n_channels), static.comb_channels)
    others = others[~ci["bad"][others]]
    resid = robust_rms(res.filtered - truth.signal)
    # what is left on comb channels (noise, and any signal distortion) matches the other channels
    assert np.median(resid[comb]) == pytest.approx(np.median(resid[others]), rel=0.05)

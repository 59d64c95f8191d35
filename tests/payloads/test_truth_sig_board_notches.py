"""SIG notches a pickup line on the boards that carry it, not plane-wide (issue 9).

A line on two FEMBs (frequencies, amplitudes, boards and planes varied per case; above
250 kHz it is notched, below it fitted and subtracted) with tracks on every board: on the
carrying boards the line is gone from the filtered waveform; on the clean boards the output is
the one SIG gives when told of no line at all (their signal untouched), where a plane-wide
notch changes it.
"""

import numpy as np
import pytest
from charge_truth import event_slopes

from payloads.daqsim.faults import FaultConfig, channels_of
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm.sig import process_apa
from payloads.stages.sig import channel_info_from_data, channel_notches, comb_notches

CASES = [
    pytest.param((71, 433.1e3, 2.0, (4, 13), "uvx"), id="433kHz-uvx"),
    pytest.param((72, 180.4e3, 2.5, (2, 17), "x"), id="180kHz-x"),
    pytest.param((73, 712.9e3, 1.5, (9, 10), "uv"), id="713kHz-uv", marks=pytest.mark.slow),
]


def line_amplitude(wave: np.ndarray, freq: float) -> np.ndarray:
    """Amplitude (ADC, peak) of a sine at ``freq`` per row (a DFT at the exact frequency)."""
    t = np.arange(wave.shape[1]) * DET.tick_us * 1e-6
    z = wave.astype(np.float64) @ np.exp(-2j * np.pi * freq * t)
    return np.abs(z) * 2 / wave.shape[1]


@pytest.fixture(scope="module", params=CASES)
def case(request):
    seed, freq, amp, fembs, planes = request.param
    faults = FaultConfig(board_lines=((freq, amp, fembs, planes),))
    sim = SimConfig(line_apas=(), faults=faults, track_slopes=event_slopes(seed))
    adc, truth, static = simulate_apa(sim, seed=seed, event=0)
    ci = channel_info_from_data(adc, DET)
    kw = dict(sticky=ci["sticky"], bad=ci["bad"])
    local = process_apa(adc, DET, notches=ci["lines"], extra_notches=channel_notches(ci), **kw)
    comb = comb_notches(ci["comb"], 51.4e3, 600e3)
    told_none = process_apa(adc, DET, notches={}, extra_notches=comb, **kw)
    found = np.concatenate([f for f in ci["line_channels"].values()] or [np.zeros(0)])
    wide = process_apa(
        adc, DET, notches={p: np.unique(found) for p in range(3)}, extra_notches=comb, **kw
    )
    carrying = np.concatenate([channels_of(DET, f, plane=p) for f in fembs for p in planes])
    carrying = carrying[~ci["bad"][carrying]]
    clean = np.setdiff1d(
        np.flatnonzero(np.isin(DET.plane_index, ["uvx".index(p) for p in planes])), carrying
    )
    clean = clean[~ci["bad"][clean]]
    return dict(
        freq=static.line_freqs[-1],
        amp=amp,
        ci=ci,
        local=local,
        none=told_none,
        wide=wide,
        carrying=carrying,
        clean=clean,
    )


def test_the_line_is_found_on_its_boards_only(case):
    notched = np.array(
        sorted(
            ch
            for ch, f in case["ci"]["line_channels"].items()
            if np.any(np.abs(f - case["freq"]) < 2 * DET.freqs()[1])
        )
    )
    # the notch covers the carrying group whole, its dead and noisy channels too (zeroed anyway)
    notched = notched[~case["ci"]["bad"][notched]]
    assert np.isin(case["carrying"], notched).mean() >= 0.99
    assert np.isin(notched, case["carrying"]).mean() >= 0.99
    assert not any(np.size(v) for v in case["ci"]["lines"].values())  # nothing plane-wide


def test_the_line_is_removed_on_the_carrying_boards(case):
    before = line_amplitude(case["none"].filtered[case["carrying"]], case["freq"])
    after = line_amplitude(case["local"].filtered[case["carrying"]], case["freq"])
    assert np.median(before) == pytest.approx(case["amp"], rel=0.15)  # it was there
    assert np.median(after) <= 0.1 * case["amp"]
    assert np.mean(after <= 0.2 * case["amp"]) >= 0.95


def test_clean_boards_keep_their_signal_untouched(case):
    clean = case["clean"]
    diff = case["local"].filtered[clean] - case["none"].filtered[clean]
    noise = np.median(case["none"].rms_filtered[clean])
    assert np.sqrt(np.mean(diff**2)) <= 1e-3 * noise
    q_local = case["local"].deconvolved[clean].sum(axis=1)
    q_none = case["none"].deconvolved[clean].sum(axis=1)
    assert q_local == pytest.approx(q_none, rel=1e-3, abs=50.0)
    # a plane-wide notch would have changed them: the test can tell
    wide = case["wide"].filtered[clean] - case["none"].filtered[clean]
    assert np.sqrt(np.mean(wide**2)) > 100 * max(np.sqrt(np.mean(diff**2)), 1e-6)

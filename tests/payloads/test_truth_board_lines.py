"""Pickup lines on a few boards are found there, with their channels and per-channel amplitude."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.detector import PLANES
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm
from payloads.dqm import lines as linem

CASES = [
    # (seed, freq_hz, amplitude, fembs, planes)
    (61, 180e3, 2.5, (3, 7), "uvx"),
    (62, 443.7e3, 1.2, (12,), "x"),
    (63, 97.1e3, 3.0, (0, 19), "uv"),
    (64, 733.3e3, 0.8, (5, 6, 15), "vx"),
]


def analyse(seed, freq, amp, fembs, planes):
    faults = FaultConfig(board_lines=((freq, amp, fembs, planes),))
    adc, _, static = simulate_apa(SimConfig(line_apas=(), faults=faults), seed=seed, event=0)
    stats = adcm.compute_channel_stats(adc)
    bad = adcm.find_bad_channels(stats, DET)
    excl = bad["dead"] | bad["noisy"]
    power = fftm.compute_power(adc)
    spectra = fftm.average_spectra(power, DET, exclude=excl)
    # as dqm-adcfft calls it: the ADC too, for the signal-free per-channel fit
    found = linem.localise_lines(
        power,
        spectra,
        DET,
        exclude=excl,
        waves=[adc],
        baseline=stats["median"],
        noise=adcm.noise_rms(stats, bad["sticky"]),
    )
    return found, static, excl


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[1] / 1e3:.0f}kHz-{c[3]}")
def case(request):
    seed, freq, amp, fembs, planes = request.param
    lines, static, excl = analyse(seed, freq, amp, fembs, planes)
    return request.param, lines, static, excl


def _the_line(lines, p, freq):
    near = [
        ln for ln in lines[p] if abs(ln["freq_hz"] - freq) <= tol.LINE_FREQ_BINS * DET.freqs()[1]
    ]
    assert len(near) == 1, f"plane {PLANES[p]}: {[ln['freq_hz'] for ln in lines[p]]}"
    return near[0]


def test_the_line_is_reported_on_the_boards_that_carry_it(case):
    (_, freq, _, fembs, planes), lines, _, _ = case
    for p, name in enumerate(PLANES):
        near = [ln for ln in lines[p] if abs(ln["freq_hz"] - freq) <= 2 * DET.freqs()[1]]
        if name not in planes:
            assert near == [], f"plane {name} carries no line"
            continue
        assert _the_line(lines, p, freq)["fembs"] == sorted(fembs)


def test_the_channels_carrying_the_line_are_named(case):
    (_, freq, _, _, planes), lines, static, excl = case
    amps = static.line_amps[-1]
    for p, name in enumerate(PLANES):
        if name not in planes:
            continue
        sl = DET.plane_slice(p)
        truth = np.zeros(DET.n_channels, bool)
        truth[sl] = amps[sl] > 0
        truth &= ~excl
        found = np.zeros(DET.n_channels, bool)
        found[_the_line(lines, p, freq)["channels"]] = True
        assert found[truth].mean() >= tol.LINE_CHANNELS_FOUND_MIN
        assert found[sl][~truth[sl]].mean() <= tol.LINE_CHANNELS_FALSE_MAX


def test_the_line_amplitude_per_channel_is_within_five_percent(case):
    (_, freq, _, _, planes), lines, static, _ = case
    amps = static.line_amps[-1]
    for p, name in enumerate(PLANES):
        if name not in planes:
            continue
        ln = _the_line(lines, p, freq)
        on = amps[ln["channels"]]
        rms_true = np.sqrt(np.mean(on[on > 0] ** 2))
        assert ln["amplitude"] == pytest.approx(rms_true, rel=tol.LINE_AMPLITUDE_REL)
        sl = DET.plane_slice(p)
        for f, a in ln["femb_amplitudes"].items():
            board = amps[sl][DET.femb[sl] == f]
            assert a == pytest.approx(
                np.sqrt(np.mean(board[board > 0] ** 2)), rel=tol.LINE_AMPLITUDE_REL
            )


@pytest.mark.parametrize(
    "seed,freq,amp,fembs,planes", CASES, ids=[f"{c[1] / 1e3:.0f}kHz" for c in CASES]
)
def test_each_channel_amplitude_is_within_five_percent_over_a_few_events(
    seed, freq, amp, fembs, planes
):
    # One event's estimate on one channel carries the noise at the line's frequency
    # (sigma_A = sqrt(S_noise / 2): a few % at these amplitudes, most at 97 kHz where the shaped
    # noise is strong); the stage averages over the events it reads, as here (four events, with
    # tracks: the fit leaves out the ticks that carry their signal).
    faults = FaultConfig(board_lines=((freq, amp, fembs, planes),))
    cfg = SimConfig(line_apas=(), faults=faults)
    power, events = 0.0, []
    for event in range(4):
        adc, _, static = simulate_apa(cfg, seed=seed, event=event)
        power = power + fftm.compute_power(adc) / 4
        events.append(adc)
    stats = adcm.compute_channel_stats(adc)
    bad = adcm.find_bad_channels(stats, DET)
    excl = bad["dead"] | bad["noisy"]
    lines = linem.localise_lines(
        power,
        fftm.average_spectra(power, DET, exclude=excl),
        DET,
        excl,
        waves=events,
        baseline=stats["median"],
        noise=adcm.noise_rms(stats, bad["sticky"]),
    )
    amps = static.line_amps[-1]
    for p, name in enumerate(PLANES):
        if name not in planes:
            continue
        ln = _the_line(lines, p, freq)
        true = amps[ln["channels"]]
        assert (true > 0).all()
        err = np.abs(ln["channel_amplitudes"] / true - 1)
        assert np.mean(err <= tol.LINE_CHANNEL_AMPLITUDE_REL) >= tol.LINE_CHANNEL_AMPLITUDE_SHARE
        sl = DET.plane_slice(p)
        for f, a in ln["femb_amplitudes"].items():  # the per-board figure of the checks
            board = amps[sl][DET.femb[sl] == f]
            rms = np.sqrt(np.mean(board[board > 0] ** 2))
            assert a == pytest.approx(rms, rel=tol.LINE_AMPLITUDE_REL)


def test_the_plane_figure_is_the_plane_mean(case):
    (_, freq, _, _, planes), lines, static, excl = case
    amps = static.line_amps[-1]
    for p, name in enumerate(PLANES):
        if name not in planes:
            continue
        sl = DET.plane_slice(p)
        live = ~excl[sl]
        plane_true = np.sqrt(np.mean(amps[sl][live] ** 2))
        ln = _the_line(lines, p, freq)
        assert ln["plane_amplitude"] == pytest.approx(plane_true, rel=tol.LINE_AMPLITUDE_REL)
        assert ln["plane_amplitude"] < ln["amplitude"]  # a few boards: diluted in the plane

"""The fast ADC+FFT gives today's reference results: the same flags, boards, lines and combs,
numbers within float32 rounding (the reference is the code of commit
``scripts/adcfft_reference.BASELINE``, run in this process on the same generated APA-events)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.stages import adcfft

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import adcfft_reference  # noqa: E402

pytestmark = pytest.mark.skipif(
    not adcfft_reference.available(), reason="needs git and the reference commit"
)

#: float32 rounding: the coarse map and the comb score are float32 sums in another order, the
#: per-channel line fit float32 products summed in another order over 6,000 ticks (measured on
#: the bench's event: at most 5e-7 relative; everything else is bit for bit)
RTOL = 5e-6
RTOL_FIT = 5e-5
#: a fitted amplitude is sqrt(A^2 + noise - floor): near 0 the root magnifies the rounding of
#: the difference, so the fit's figures are also allowed a thousandth of an ADC count
ATOL_FIT = 1e-3


@pytest.fixture
def ref(monkeypatch):
    mod = adcfft_reference.load(adcfft_reference.BASELINE)
    monkeypatch.setattr(mod.fftm, "average_spectra", without_residue(mod))
    return mod


def old_result(ref, adc):
    mod = sys.modules[ref.__name__.rsplit(".", 2)[0] + ".dqm.adc"]
    fftm = sys.modules[ref.__name__.rsplit(".", 2)[0] + ".dqm.fft"]
    stats = mod.compute_channel_stats(adc)
    power = fftm.compute_power(adc, workers=1)
    return ref.analyse_apa(stats, power, ref.DEFAULT, waves=[adc])


def without_residue(ref):
    """The reference with today's one fix of its results: an ASIC-plane group whose channels
    are all excluded (dead or noisy) has a mean spectrum of exactly 0. The reference computed
    it as the group's sum less every channel, a float32 rounding residue (~1e-5) that the line
    search then divided by an empty FEMB's background (the smallest float32): on the
    board-fault event about 100 lines per plane of significance ~1e20, all artefacts, whose
    set changes with the rounding of the power."""
    fftm = sys.modules[ref.__name__.rsplit(".", 2)[0] + ".dqm.fft"]
    plain = fftm.average_spectra

    def average_spectra(power, det, exclude=None):
        out = plain(power, det, exclude=exclude)
        out["asic"][out["counts_asic"] == 0] = 0.0
        return out

    return average_spectra


def assert_same(new, old, path="", rtol=RTOL):
    """Walk both results; discrete things equal, numbers within ``rtol``."""
    if isinstance(old, dict):
        assert set(new) == set(old), path
        for k in old:
            tol = (
                RTOL_FIT
                if k in ("amplitude", "plane_amplitude", "channel_amplitudes", "femb_amplitudes")
                else rtol
            )
            assert_same(new[k], old[k], f"{path}.{k}", tol)
    elif isinstance(old, list | tuple):
        assert len(new) == len(old), path
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            assert_same(a, b, f"{path}[{i}]", rtol)
    elif isinstance(old, np.ndarray) and old.dtype.kind in "fc":
        scale = float(np.nanmax(np.abs(old))) if old.size else 0.0
        atol = ATOL_FIT if rtol == RTOL_FIT else rtol * scale * 1e-3
        np.testing.assert_allclose(new, old, rtol=rtol, atol=atol, err_msg=path)
    elif isinstance(old, float):
        atol = ATOL_FIT if rtol == RTOL_FIT else 1e-9
        assert new == pytest.approx(old, rel=rtol, abs=atol, nan_ok=True), path
    elif isinstance(old, np.ndarray):
        assert np.array_equal(new, old), path
    else:
        assert new == old, path


CASES = {
    "lines_comb_tracks": (SimConfig(line_apas=(0,)), 1),
    "board_faults": (
        SimConfig(
            line_apas=(),
            faults=FaultConfig(
                board_lines=((137e3, 4.0, (3, 4), "uvx"), (412e3, 2.5, (11,), "x")),
                sticky_model="both",
                asic_shifts=((5, 2, "x", 1400.0),),
                noisy_asics=((9, 4, 8.0),),
                dead_fembs=(12,),
                frozen_fembs=(15,),
            ),
        ),
        7,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_adcfft_of_one_apa_event_matches_the_reference(ref, case):
    cfg, seed = CASES[case]
    adc, _, _ = simulate_apa(cfg, seed=seed, event=0)
    old = old_result(ref, adc)
    new = adcfft.analyse_event(adc, DET)
    assert_same(new, old)
    assert sum(len(x) for x in old["lines"]) >= 2  # the case exercises the line search


def test_adcfft_of_several_events_matches_the_reference(ref, tmp_path):
    from datetime import UTC, datetime

    from payloads.daqsim import writer
    from payloads.rawio import RawFile

    raw_file = writer.write_tpc_file(
        tmp_path,
        seed=23,
        run=3,
        subrun=1,
        n_events=2,
        apas=[0],
        start=datetime(2026, 1, 1, tzinfo=UTC),
        cfg=SimConfig(line_apas=(0,)),
    )
    with RawFile(raw_file.path) as raw:
        positions = np.arange(raw.n_events)
        new = adcfft.analyse_file(raw, positions)
    rawm = sys.modules[ref.__name__.rsplit(".", 2)[0] + ".rawio"]
    with rawm.RawFile(raw_file.path) as raw:
        old = ref.analyse_file(raw, positions)
    assert_same(new, old)

"""Detector response: electronics shaping, field response per plane, AC coupling.

One definition serves the simulation (:mod:`payloads.daqsim`) and the deconvolution
(:mod:`payloads.dqm.deconv`). Units: ADC counts per electron arriving at tick 0, per tick.
The numbers are DETECTOR.md's ("Signals (derived)"), which come from the protoDUNE-SP front end
(cold electronics at 14 mV/fC gain and 2 us shaping; protoDUNE-SP performance paper,
JINST 15 (2020) P12004; Wire-Cell signal processing, JINST 13 (2018) P07006/P07007):

* **Collection** (X): unipolar; 1,000 electrons give 7 ADC at the peak and 40 ADC x tick of
  area, the peak 2.6 us (5.2 ticks) after arrival. The shape is the CR-(RC)^n semi-Gaussian
  ``(t/t_p)^n exp(n (1 - t/t_p))`` with ``t_p`` = 2.6 us and the order ``n`` (about 5.3) that
  gives area / peak = 40 / 7 ticks. The kernel is normalised to the area, since the area is
  what the deconvolved charge scale rests on (its low-frequency response).
* **Induction** (U, V): bipolar, zero net area. By the Shockley-Ramo theorem the charge an
  induction wire sees rises while the electrons approach its plane and falls while they leave;
  its weighting field reaches about one wire pitch (4.67 mm) either side, crossed at the drift
  speed (1.6 mm/us) in ``D`` = 2.9 us (5.8 ticks). The induced charge is taken as
  ``exp(-|t| / (D/2))``, peaked at the plane crossing; its derivative (the current), shaped by
  the same front end, gives two lobes about 3.1 us apart, peaking at 0.46 and 0.34 of the
  collection peak (mean 0.4; DETECTOR.md: "a third to a half").
  Time 0 is when the electrons cross the wire plane (where the deconvolved charge appears).
* **AC coupling**: one RC high-pass with tau = 1.1 ms (2,200 ticks), the undershoot.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Front-end gain (mV/fC) and shaping time (us) of the protoDUNE-SP cold electronics.
GAIN_MV_PER_FC = 14.0
SHAPING_US = 2.0
#: ADC at the collection peak for 1,000 electrons (DETECTOR.md).
ADC_PER_KE_PEAK = 7.0
#: Collection area, ADC x tick, for 1,000 electrons (DETECTOR.md).
AREA_PER_KE = 40.0
#: Collection response peaks this many ticks after arrival (2.6 us at 0.5 us per tick).
PEAK_TICKS = 5.2
#: Induction lobe peaks (their mean) relative to the collection peak (DETECTOR.md: 1/3 to 1/2).
INDUCTION_RATIO = 0.4
#: Time (ticks) the electrons take through an induction wire's weighting field on one side:
#: one U/V pitch (4.67 mm) at 1.6 mm/us, 0.8 mm per tick.
INDUCTION_SPAN_TICKS = 4.67 / 0.8
#: AC-coupling time constant (1.1 ms) in ticks.
AC_TAU_TICKS = 2200.0
#: Support of the kernels, ticks (the shapes are below 1e-9 of their peak beyond).
SUPPORT_TICKS = 96
_FINE = 20  # sub-samples per tick when integrating the induction current


def _area_over_peak(order: float) -> float:
    """``int_0^inf (x)^n exp(n (1 - x)) dx = e^n Gamma(n + 1) / n^(n + 1)`` (x = t / t_p)."""
    return math.exp(order + math.lgamma(order + 1) - (order + 1) * math.log(order))


@lru_cache(maxsize=8)
def collection_order(
    peak_ticks: float = PEAK_TICKS, area: float = AREA_PER_KE, peak: float = ADC_PER_KE_PEAK
) -> float:
    """Order ``n`` of the semi-Gaussian whose area / peak is ``area / peak`` ticks (bisection)."""
    target = area / peak / peak_ticks
    lo, hi = 1.0, 40.0  # area/peak falls monotonically with the order
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _area_over_peak(mid) > target else (lo, mid)
    return 0.5 * (lo + hi)


def shape_unipolar(
    t: np.ndarray, peak: float = PEAK_TICKS, order: float | None = None
) -> np.ndarray:
    """Semi-Gaussian ``(t/peak)^order exp(order (1 - t/peak))``: 1 at its peak, 0 for t <= 0.

    ``order`` defaults to :func:`collection_order` (area / peak = 40 / 7 ticks).
    """
    order = collection_order() if order is None else order
    t = np.asarray(t, dtype=np.float64)
    x = np.clip(t / peak, 1e-300, None)
    return np.where(t > 0, np.exp(order * (np.log(x) + 1.0 - x)), 0.0)


def _collection_per_electron(t: np.ndarray) -> np.ndarray:
    """Collection response in ADC per electron at times ``t`` (ticks), area ``AREA_PER_KE/1000``."""
    return ADC_PER_KE_PEAK / 1000.0 * shape_unipolar(t)


def _induction_per_electron(t: np.ndarray) -> np.ndarray:
    """Bipolar induction response at times ``t`` (ticks), before scaling (see the module doc).

    The induced charge rises and falls as ``Q(t) = exp(-|t| / a)``, a cusp at the wire plane
    (as a wire's weighting potential has), with ``a`` half the transit time of one pitch; the
    current ``dQ/dt`` is shaped by the collection response. Its spectrum has no zeros above
    f = 0 (a box-shaped current would have them at multiples of 1 / transit time, where a
    deconvolution divides by nothing) and, like the front end's, falls as a power of f.
    """
    a = 0.5 * INDUCTION_SPAN_TICKS
    u = np.arange(-8 * a, 8 * a, 1.0 / _FINE) + 0.5 / _FINE
    current = -np.sign(u) * np.exp(-np.abs(u) / a) / a / _FINE
    t = np.asarray(t, dtype=np.float64)
    out = np.zeros(t.shape)
    near = (t > -8 * a) & (t < SUPPORT_TICKS)
    out[near] = _collection_per_electron(t[near][:, None] - u[None, :]) @ current
    return out


@lru_cache(maxsize=4)
def _induction_scale() -> float:
    t = np.arange(-2 * INDUCTION_SPAN_TICKS, SUPPORT_TICKS, 1.0 / _FINE)
    r = _induction_per_electron(t)
    lobes = 0.5 * (r.max() - r.min())  # mean of the two lobe peaks
    return INDUCTION_RATIO * ADC_PER_KE_PEAK / 1000.0 / lobes


def response_at(plane: int, t: np.ndarray) -> np.ndarray:
    """Response (ADC per electron) of ``plane`` (0 U, 1 V, 2 X) at times ``t`` ticks after arrival."""
    t = np.asarray(t, dtype=np.float64)
    if plane == 2:
        return _collection_per_electron(t)
    return _induction_scale() * _induction_per_electron(t)


def make_response(plane: int, n_ticks: int) -> np.ndarray:
    """Response to one electron arriving at tick 0, in ADC, as a circular kernel of ``n_ticks``.

    Sample ``k`` is time ``k`` for ``k < n_ticks / 2`` and ``k - n_ticks`` above (the induction
    current starts before the electrons reach the wire plane). The collection kernel is scaled
    so that its samples sum to exactly ``AREA_PER_KE / 1000`` ADC x tick per electron.

    Parameters
    ----------
    plane : int
        0 (U) or 1 (V): bipolar induction; 2 (X): unipolar collection.
    n_ticks : int
        Length of the returned kernel.

    Returns
    -------
    numpy.ndarray
        ``(n_ticks,)`` float64 kernel.
    """
    k = np.arange(n_ticks)
    t = np.where(k < n_ticks // 2, k, k - n_ticks).astype(np.float64)
    out = response_at(plane, t)
    if plane == 2:
        out *= AREA_PER_KE / 1000.0 / out.sum()
    return out


@lru_cache(maxsize=16)
def _spectrum(plane: int, n_ticks: int) -> np.ndarray:
    spec = np.fft.rfft(make_response(plane, n_ticks))
    spec.flags.writeable = False
    return spec


def response_spectrum(plane: int, n_ticks: int) -> np.ndarray:
    """rfft of :func:`make_response` (circular, length ``n_ticks``); cached, read-only."""
    return _spectrum(plane, n_ticks)


def ac_coupling_spectrum(n_ticks: int, tau_ticks: float = AC_TAU_TICKS) -> np.ndarray:
    """Transfer function of one RC high-pass: ``j w tau / (1 + j w tau)`` on the rfft bins."""
    w = 2 * np.pi * np.fft.rfftfreq(n_ticks)
    return (1j * w * tau_ticks) / (1.0 + 1j * w * tau_ticks)


def response_figures(plane: int, n_ticks: int = 6000) -> dict[str, float]:
    """Peak (ADC per 1,000 e), peak tick, area (ADC x tick per 1,000 e) and, on induction, the
    negative lobe (ADC per 1,000 e) of :func:`make_response` (for tests and docs)."""
    r = 1000.0 * make_response(plane, n_ticks)
    k = int(np.argmax(r))
    t_fine = np.arange(-10.0, 40.0, 0.01)
    fine = 1000.0 * response_at(plane, t_fine)
    out = {
        "peak": float(fine.max()),
        "peak_tick": float(t_fine[int(np.argmax(fine))]),
        "area": float(r.sum()),
        "positive_area": float(r[r > 0].sum()),
        "peak_sample_tick": float(k if k < n_ticks // 2 else k - n_ticks),
    }
    if plane != 2:
        out["negative_lobe"] = float(-fine.min())
    return out

"""Detector response: electronics shaping, field response per plane, AC coupling.

The same nominal responses serve the simulation (:mod:`payloads.daqsim`) and the
deconvolution in :mod:`payloads.dqm.sig`. Units: ADC counts per electron per tick.
"""

from __future__ import annotations

import numpy as np

#: ADC at the peak for 1,000 electrons (14 mV/fC, 2 us shaping).
ADC_PER_KE_PEAK = 7.0
#: Collection response peaks this many ticks after arrival (2.6 us).
PEAK_TICKS = 5.2
#: Induction lobes relative to the collection peak.
INDUCTION_RATIO = 0.4
#: Ticks between the induction lobes.
INDUCTION_LOBE_TICKS = 6.0
#: AC-coupling time constant (1.1 ms) in ticks.
AC_TAU_TICKS = 2200.0


def shape_unipolar(t: np.ndarray, peak: float = PEAK_TICKS, order: int = 4) -> np.ndarray:
    """Semi-Gaussian shape ``(t/peak)^order exp(order (1 - t/peak))``, 1 at its peak, 0 for t < 0."""
    t = np.asarray(t, dtype=np.float64)
    x = np.clip(t / peak, 0.0, None)
    return np.where(t > 0, x**order * np.exp(order * (1.0 - x)), 0.0)


def make_response(plane: int, n_ticks: int) -> np.ndarray:
    """Response to one electron arriving at tick 0, in ADC, over ``n_ticks`` ticks.

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
    t = np.arange(n_ticks, dtype=np.float64)
    scale = ADC_PER_KE_PEAK / 1000.0
    if plane == 2:
        return scale * shape_unipolar(t)
    lobe = INDUCTION_LOBE_TICKS
    first = shape_unipolar(t, peak=PEAK_TICKS - 1.0)
    second = shape_unipolar(t - lobe, peak=PEAK_TICKS - 1.0)
    bip = first - second
    return scale * INDUCTION_RATIO * bip / np.abs(bip).max()


def response_spectrum(plane: int, n_ticks: int) -> np.ndarray:
    """rfft of :func:`make_response` (circular, length ``n_ticks``)."""
    return np.fft.rfft(make_response(plane, n_ticks))


def ac_coupling_spectrum(n_ticks: int, tau_ticks: float = AC_TAU_TICKS) -> np.ndarray:
    """Transfer function of one RC high-pass: ``j w tau / (1 + j w tau)`` on the rfft bins."""
    w = 2 * np.pi * np.fft.rfftfreq(n_ticks)
    return (1j * w * tau_ticks) / (1.0 + 1j * w * tau_ticks)

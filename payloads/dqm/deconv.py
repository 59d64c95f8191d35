"""Deconvolution to charge, regions of interest and per-ROI baselines (the second half of SIG).

One-dimensional (per wire) version of the Wire-Cell protoDUNE-SP signal processing
(Ionization electron signal processing in single phase LArTPCs I/II, JINST 13 (2018) P07006 and
P07007; protoDUNE-SP performance, JINST 15 (2020) P12004). Filter numbers are Wire-Cell's
optimised protoDUNE-SP set (``cfg/pgrapher/experiment/pdsp/sp-filters.jsonnet``, May 2019):

* Wiener-like ``W(f) = exp(-(f/sigma)^p / 2)`` (``Wiener_tight``): U 0.1488 MHz / 3.76,
  V 0.1597 MHz / 4.36, collection 0.1362 MHz / 3.35 (DETECTOR.md: 0.14-0.16 MHz, p 3.4-4.4), on
  the induction waveform ROIs are found on.
* Gaussian ``exp(-(f/0.12 MHz)^2 / 2)`` (``Gaus_wide``) on the charge output of every plane:
  like ``W`` it is 1 at f = 0 (the charge is kept), and it has no negative side lobes (``W``'s
  carry up to 2 % of the charge per tick around +-8 ticks, which would bias a short ROI).
* Low-frequency filters ``L(f) = 1 - exp(-(f/tau)^2)`` on induction only, where the bipolar
  response vanishes at f = 0 and noise divided by it grows without bound: ``ROI_tight_lf``
  (tau 14 kHz) on the ROI waveform, ``ROI_loose_lf`` (tau 2 kHz) on the charge. The loose cut
  still takes the zero-frequency content out; what it moves into a slow undershoot (about 100
  ticks wide) is given back by the per-ROI linear baseline below.
* ROIs (:func:`find_rois`) on the deconvolved signal: seeds above ``3 RMS + 1`` (induction) or
  ``5 RMS + 1`` (collection) (DETECTOR.md), and ticks above ``roi_neighbour_sigma`` RMS within
  2 ticks of a seed on a neighbouring wire (Wire-Cell's extension to neighbouring wires); each
  seed's run above ``roi_low_sigma`` RMS is kept (so the ROI holds the whole pulse, not its
  tip), padded ``roi_pad`` ticks; runs whose pads touch merge.
* Baseline per ROI on induction (:func:`restore_baselines`; Wire-Cell's ROI refinement): the
  line from the mean of the ``baseline_edge`` ticks before the ROI to the mean of those after it
  is subtracted inside. Collection needs none (its response is flat at low frequency).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import scipy.fft as sfft

from payloads.detector import Detector
from payloads.response import ac_coupling_spectrum, response_spectrum

if TYPE_CHECKING:
    from payloads.dqm.sig import SigConfig


def wiener_filter(freqs_mhz: np.ndarray, sigma_mhz: float, power: float) -> np.ndarray:
    """``exp(-(f/sigma)^p / 2)`` (Wire-Cell ``HfFilter``)."""
    return np.exp(-0.5 * (freqs_mhz / sigma_mhz) ** power)


def lf_filter(freqs_mhz: np.ndarray, tau_mhz: float) -> np.ndarray:
    """``1 - exp(-(f/tau)^2)`` (Wire-Cell ``LfFilter``); 1 everywhere when ``tau`` is 0."""
    if tau_mhz <= 0:
        return np.ones_like(freqs_mhz)
    return 1.0 - np.exp(-((freqs_mhz / tau_mhz) ** 2))


def deconvolution_kernels(
    det: Detector, cfg: SigConfig, lf_mhz: float, charge: bool = False
) -> np.ndarray:
    """Per-plane multipliers ``F L / R`` on the rfft bins, ``(3, n_freqs)`` complex64.

    ``R`` is field x electronics (x AC coupling when ``cfg.deconvolve_ac``). ``F`` is the
    Wiener-like filter, or for the ``charge`` waveform, when ``cfg.charge_sigma_mhz`` is set,
    the Gaussian ``exp(-(f/sigma)^2 / 2)`` (Wire-Cell's ``Gaus_wide``). ``L`` with
    ``tau = lf_mhz`` applies to the induction planes only. The zero-frequency bin is 0 (the
    baseline was subtracted before).
    """
    if charge and cfg.charge_sigma_mhz > 0:
        sigmas = tuple((p, cfg.charge_sigma_mhz) for p in range(3))
        powers = tuple((p, 2.0) for p in range(3))
    else:
        sigmas = tuple(sorted(cfg.wiener_sigma_mhz.items()))
        powers = tuple(sorted(cfg.wiener_power.items()))
    return _kernels((det.n_ticks, det.tick_us, cfg.deconvolve_ac, sigmas, powers, lf_mhz))


@lru_cache(maxsize=8)
def _kernels(key: tuple) -> np.ndarray:
    n_ticks, tick_us, with_ac, sigmas, powers, lf_mhz = key
    sigmas, powers = dict(sigmas), dict(powers)
    f_mhz = np.fft.rfftfreq(n_ticks, d=tick_us)
    out = np.zeros((3, f_mhz.size), dtype=np.complex64)
    ac = ac_coupling_spectrum(n_ticks) if with_ac else 1.0
    for p in range(3):
        resp = response_spectrum(p, n_ticks) * ac
        filt = wiener_filter(f_mhz, sigmas[p], powers[p])
        if p < 2:
            filt = filt * lf_filter(f_mhz, lf_mhz)
        good = np.abs(resp) > 1e-12
        k = np.zeros(f_mhz.size, dtype=np.complex128)
        k[good] = filt[good] / resp[good]
        k[0] = 0.0
        out[p] = k
    out.flags.writeable = False
    return out


def roi_runs(roi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, start, stop)`` of every run of True in ``roi`` (stop exclusive), row-major."""
    n, t = roi.shape
    edged = np.zeros((n, t + 2), dtype=bool)
    edged[:, 1:-1] = roi
    # rows begin and end False, so the changes alternate start, stop in row-major order
    flips = np.flatnonzero(edged[:, 1:] != edged[:, :-1])
    starts, stops = flips[0::2], flips[1::2]
    return starts // (t + 1), starts % (t + 1), stops % (t + 1)


def paint_runs(shape: tuple[int, int], rows: np.ndarray, starts: np.ndarray, stops: np.ndarray):
    """Boolean array with ``[start, stop)`` of each row set (overlapping runs merge)."""
    out = np.zeros(shape, dtype=bool)
    lengths = stops - starts
    if lengths.sum() == 0:
        return out
    run = np.repeat(np.arange(rows.size), lengths)
    offset = np.arange(run.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[rows[run], starts[run] + offset] = True
    return out


def find_rois(roi_wave: np.ndarray, rms: np.ndarray, det: Detector, cfg: SigConfig) -> np.ndarray:
    """Boolean ``(n_channels, n_ticks)`` regions of interest on the deconvolved ROI waveform.

    Seeds are ticks above ``roi_sigma x RMS + roi_offset``, and ticks above
    ``roi_neighbour_sigma x RMS`` within 2 ticks of a seed on a neighbouring wire of the plane;
    each seed's run of ticks above ``roi_low_sigma x RMS`` is kept (hysteresis), padded
    ``roi_pad`` ticks either side; runs whose pads touch merge.

    Parameters
    ----------
    roi_wave : numpy.ndarray
        Deconvolved waveform the ROIs are found on (electrons per tick), offline order.
    rms : numpy.ndarray
        Its per-channel robust noise RMS.
    det : Detector
    cfg : SigConfig
    """
    n, n_t = roi_wave.shape
    plane = det.plane_index
    inv = (1.0 / np.maximum(rms, 1e-6)).astype(np.float32)
    z = roi_wave * inv[:, None]  # in units of the channel's RMS
    k_seed = np.array([cfg.roi_sigma[p] for p in range(3)], np.float32)[plane]
    k_seed = (k_seed + np.float32(cfg.roi_offset) * inv)[:, None]
    sr, st = np.nonzero(z > k_seed)
    # neighbour seeds: same plane, next wire, within 2 ticks, above the lower threshold
    dr = np.repeat([-1, 1], 5)
    dt = np.tile(np.arange(-2, 3), 2)
    cr, ct = (sr[:, None] + dr).ravel(), (st[:, None] + dt).ravel()
    ok = (cr >= 0) & (cr < n) & (ct >= 0) & (ct < n_t)
    cr, ct = cr[ok], ct[ok]
    ok = (plane[cr] == plane[np.repeat(sr, 10)[ok]]) & (z[cr, ct] > cfg.roi_neighbour_sigma)
    sr, st = np.r_[sr, cr[ok]], np.r_[st, ct[ok]]
    low = z > np.float32(cfg.roi_low_sigma)
    low[sr, st] = True
    rows, starts, stops = roi_runs(low)
    run = np.searchsorted(rows * n_t + starts, sr * n_t + st, side="right") - 1
    keep = np.zeros(rows.size, bool)
    keep[run] = True
    rows, starts, stops = rows[keep], starts[keep], stops[keep]
    pad = np.array([cfg.roi_pad[p] for p in range(3)])[plane[rows]]
    return paint_runs(
        roi_wave.shape, rows, np.maximum(starts - pad, 0), np.minimum(stops + pad, n_t)
    )


def restore_baselines(wave: np.ndarray, roi: np.ndarray, edge: int, rows: np.ndarray) -> None:
    """Subtract per ROI the line joining the mean of ``edge`` ticks either side (in place).

    Only ROIs on ``rows`` (boolean per channel) are touched. An ROI at the window's edge uses
    the one side it has.
    """
    sel = np.flatnonzero(rows)
    if sel.size == 0:
        return
    r, s, e = roi_runs(roi[sel])
    if r.size == 0:
        return
    r = sel[r]
    n_t = wave.shape[1]
    k = np.arange(1, edge + 1)
    li, ri = s[:, None] - k, e[:, None] + k - 1
    lok, rok = li >= 0, ri < n_t
    n_left, n_right = lok.sum(axis=1), rok.sum(axis=1)
    lv = np.where(lok, wave[r[:, None], np.clip(li, 0, n_t - 1)], 0).sum(axis=1)
    rv = np.where(rok, wave[r[:, None], np.clip(ri, 0, n_t - 1)], 0).sum(axis=1)
    left = lv / np.maximum(n_left, 1)
    right = rv / np.maximum(n_right, 1)
    left = np.where(n_left > 0, left, right)
    right = np.where(n_right > 0, right, left)
    # the line passes through the centres of the two edge windows
    c_left = s - 0.5 * (n_left + 1)
    c_right = e + 0.5 * (n_right - 1)
    slope = (right - left) / (c_right - c_left)
    lengths = e - s
    run = np.repeat(np.arange(r.size), lengths)
    offset = np.arange(run.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ticks = s[run] + offset
    wave[r[run], ticks] -= (left[run] + slope[run] * (ticks - c_left[run])).astype(wave.dtype)


def deconvolve(spec: np.ndarray, det: Detector, cfg: SigConfig) -> tuple[np.ndarray, np.ndarray]:
    """Charge and ROI waveforms (electrons per tick) from the notched spectra ``spec``.

    ``spec`` is ``(n_channels, n_freqs)`` in offline order; it is overwritten. Induction rows of
    the ROI waveform carry the tight low-frequency cut, those of the charge the loose one;
    collection rows are the same in both.
    """
    n_t = det.n_ticks
    n_ind = det.plane_slice(1).stop
    k_roi = deconvolution_kernels(det, cfg, cfg.roi_lf_mhz)
    k_charge = deconvolution_kernels(det, cfg, cfg.charge_lf_mhz, charge=True)
    ind = np.empty((n_ind, spec.shape[1]), dtype=spec.dtype)
    for p in (0, 1):
        sl = det.plane_slice(p)
        np.multiply(spec[sl], k_roi[p], out=ind[sl])
    roi_ind = sfft.irfft(ind, n=n_t, axis=1, workers=cfg.workers, overwrite_x=True)
    for p in range(3):
        spec[det.plane_slice(p)] *= k_charge[p]
    charge = sfft.irfft(spec, n=n_t, axis=1, workers=cfg.workers, overwrite_x=True)
    roi_wave = np.empty_like(charge)
    roi_wave[:n_ind] = roi_ind
    roi_wave[n_ind:] = charge[n_ind:]
    return charge, roi_wave

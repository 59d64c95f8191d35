"""Signal-free per-channel line amplitudes: a sine fitted on the ticks without signal.

A track's pulse on a wire adds a cross term with a line to the channel's periodogram that no
background subtraction removes (its size is ``2 |L| |T|``), so the line search of
:mod:`payloads.dqm.lines` refits its candidate channels that carry signal on their ticks
without it. The fit only runs where it changes a result: on the channels a line's candidates
name, that carry signal (in any event), for the lines they are candidates of; one channel's
waveform at a time, in cache (:func:`payloads.dqm.kernels.masked_projections`).
"""

from __future__ import annotations

import numpy as np

from payloads.dqm import kernels

#: the fit's noise floor is projected this many rfft bins either side of the line
OFF_BINS = (-11.5, 11.5)


def signal_free(pending, busy, union, f_lines, det, waves, rows, baseline, noise, bar):
    """Per line, the per-channel amplitudes and the carrying mask, the candidate channels that
    carry signal in any event (``|w| > clamp(5 noise, 15, 50)``) refitted on their ticks
    without signal (:func:`refit_rows`), squared amplitudes averaged over the events. The
    others keep the spectral estimate (no tick to leave out; both are unbiased).

    A refitted candidate that only its own spectrum put forward (not its FEMB or ASIC group)
    carries the line when the fit stands ``bar`` times above its noise floor (floor from 4
    degrees of freedom: noise alone exceeds 40 with probability ~2e-3, on the few channels
    whose spectrum alone put them forward)."""
    need = np.stack([b[union] for b in busy], axis=1)
    a2, floor, hot = refit_rows(
        waves, rows, need, baseline, noise, np.asarray(f_lines, float), det.tick_us * 1e-6
    )
    out = []
    for j, (_, line, cand, by_group) in enumerate(pending):
        sel = busy[j][union] & hot  # rows of the union refitted for this line
        idx = union[sel]
        a_ch = np.array(line["a_ch"], dtype=float, copy=True)
        a_ch[idx] = np.sqrt(np.clip(a2[sel, j] - floor[sel, j], 0, None))
        carry = cand.copy()
        carry[idx] = by_group[idx] | (a2[sel, j] > bar * floor[sel, j])
        out.append((a_ch, carry))
    return out


def refit_rows(
    waves,
    rows: np.ndarray,
    need: np.ndarray,
    baseline: np.ndarray,
    noise: np.ndarray,
    freqs_hz: np.ndarray,
    tick_s: float,
    sigma: float = 5.0,
    clamp: tuple[float, float] = (15.0, 50.0),
    pad: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fitted squared amplitudes and noise floors ``(n_rows, n_lines)`` (:func:`line_fit`,
    averaged over the events of ``waves``: int16 arrays or a callable returning them) of the
    channels ``rows`` at ``freqs_hz``, on their ticks without signal: ``|w| > clamp(sigma x
    noise, lo, hi)`` ADC padded ``pad`` ticks left out (the coherent-noise step's protection of
    :mod:`payloads.dqm.sig`, DETECTOR.md "SIG"), ``w`` the waveform less its ``baseline``.

    Only where ``need[i, j]`` and row ``i`` carries signal in some event (``hot``, returned)
    are the entries computed; elsewhere they are 0.
    """
    events = list(waves() if callable(waves) else waves)
    f = np.atleast_1d(np.asarray(freqs_hz, float))
    thr = np.clip(sigma * np.asarray(noise, np.float32)[rows], *clamp).astype(np.float32)
    base = np.asarray(baseline)[rows]
    force = np.zeros(rows.size, bool)
    if len(events) > 1:  # a row with signal in any event is refitted in every event
        none = np.zeros((rows.size, f.size), bool)
        for adc in events:
            e2 = np.zeros((adc.shape[1], 0), np.float32)
            ph = np.zeros((2 * f.size, adc.shape[1]), np.float32)
            force |= kernels.masked_projections(adc, rows, base, thr, pad, e2, ph, none, force)[3]
    a2 = np.zeros((rows.size, f.size))
    floor = np.zeros((rows.size, f.size))
    hot = force.copy()
    tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for adc in events:
        n_t = adc.shape[1]
        if n_t not in tables:
            every = np.concatenate([f] + [f + ob / (n_t * tick_s) for ob in OFF_BINS])
            tables[n_t] = (phases(2 * f, n_t, tick_s), phases(every, n_t, tick_s).T)
        e2, ph = tables[n_t]
        proj, s2_out, kept, h = kernels.masked_projections(
            adc, rows, base, thr, pad, e2, ph, need, force
        )
        hot |= h
        a, fl = line_fit(proj, s2_out, kept, f, n_t, tick_s)
        a2 = a2 + a / len(events)
        floor = floor + fl / len(events)
    return a2, floor, hot


def phases(freqs_hz: np.ndarray, n_t: int, tick_s: float, block: int = 64) -> np.ndarray:
    """``(n_t, 2 n)`` float32 columns ``cos, -sin`` of ``2 pi f t`` for each frequency.

    ``e^{-i w t}`` for ``t = a block + b`` is the product of ``e^{-i w a block}`` and
    ``e^{-i w b}`` (float64, relative error ~1e-15, far below the float32 result's rounding):
    ``n_t / block + block`` complex exponentials per frequency instead of ``n_t``."""
    f = np.asarray(freqs_hz, float)
    n_hi = -(-n_t // block)
    w = -2j * np.pi * f * tick_s
    hi = np.exp(w[None, :] * (np.arange(n_hi) * block)[:, None])
    lo = np.exp(w[None, :] * np.arange(block)[:, None])
    z = (hi[:, None, :] * lo[None, :, :]).reshape(n_hi * block, f.size)[:n_t]
    e = np.empty((n_t, 2 * f.size), np.float32)
    e[:, 0::2], e[:, 1::2] = z.real, z.imag
    return e


def masked_line_power(
    xw: np.ndarray,
    s2_out: np.ndarray,
    kept: np.ndarray,
    freqs_hz: np.ndarray,
    tick_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_fit` of masked waveforms ``xw`` (baseline-subtracted, 0 on the ticks left
    out; :func:`payloads.dqm.kernels.mask_rows`), by one matrix product for all rows and
    lines: the reference form of what :func:`refit_rows` computes row by row."""
    n_t = xw.shape[1]
    f = np.atleast_1d(np.asarray(freqs_hz, float))
    every = np.concatenate([f] + [f + ob / (n_t * tick_s) for ob in OFF_BINS])
    proj = (xw @ phases(every, n_t, tick_s)).astype(np.float64)
    return line_fit(proj, s2_out, kept, f, n_t, tick_s)


def line_fit(
    proj: np.ndarray,
    s2_out: np.ndarray,
    kept: np.ndarray,
    f: np.ndarray,
    n_t: int,
    tick_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row and line ``(n_rows, n_lines)``: the squared amplitude of a stationary sine at
    each frequency ``f``, least-squares fitted on the ticks kept, and the same fit's noise
    floor: the mean squared amplitude projected at :data:`OFF_BINS` rfft bins away, where
    there is no line (the expected excess of the fit over ``A^2`` from the noise there).

    ``proj`` holds the projections ``cos, -sin`` of the masked waveform on ``f`` then on each
    off-bin frequency (:func:`payloads.dqm.kernels.masked_projections`), ``kept`` the ticks
    kept, ``s2_out`` the sums of ``cos, -sin (2 w t)`` over the ticks left out.

    With ``z = sum_kept x e^{-i w t}``, ``S0`` the ticks kept and ``S2 = sum_kept e^{-2 i w t}``,
    the fit of ``Re(C e^{i w t})`` is ``C = 2 (z S0 - z* S2) / (S0^2 - |S2|^2)``; ``S2`` is the
    whole window's sum less that over the ticks left out (the constant is left out: the
    baseline is the median already).
    """
    n_l = f.size
    z = proj[:, 0::2] + 1j * proj[:, 1::2]
    s2_all = geometric_sum(-2 * np.pi * 2 * f * tick_s, n_t)
    s2 = s2_all[None, :] - (s2_out[:, 0::2] + 1j * s2_out[:, 1::2])
    s0 = np.maximum(np.asarray(kept, np.float64), 1.0)[:, None]
    zl = z[:, :n_l]
    c = 2 * (zl * s0 - np.conj(zl) * s2) / np.maximum(s0**2 - np.abs(s2) ** 2, 1.0)
    a2 = np.abs(c) ** 2
    # the noise floor: a plain projection (the kept ticks are nearly all of them)
    zo = z[:, n_l:].reshape(proj.shape[0], len(OFF_BINS), n_l)
    floor = (np.abs(zo) ** 2).mean(axis=1) * (2.0 / s0) ** 2
    return a2, floor


def geometric_sum(theta: np.ndarray, n: int) -> np.ndarray:
    """``sum_{t < n} e^{i theta t}`` per angle: ``(1 - e^{i n theta}) / (1 - e^{i theta})``,
    ``n`` where ``e^{i theta}`` is 1 (float64: ~1e-12 relative of the sum over 6,000 ticks)."""
    r = np.exp(1j * np.asarray(theta, float))
    one = np.abs(1 - r) < 1e-12
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (1 - r**n) / (1 - r)
    return np.where(one, complex(n), out)

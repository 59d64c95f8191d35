"""Hits, clusters and straight-track counting on processed (deconvolved) waveforms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from payloads.detector import Detector

HIT_DTYPE = np.dtype(
    [
        ("channel", "i4"),
        ("start", "i4"),
        ("end", "i4"),
        ("peak_tick", "i4"),
        ("amplitude", "f4"),
        ("integral", "f4"),
        ("width", "i4"),
    ]
)


@dataclass(frozen=True)
class RecoConfig:
    """Parameters of hit finding, clustering and line fitting."""

    hit_sigma: float = 4.0
    hit_min_width: int = 2
    #: The integral runs over the pulse: the run above threshold extended while the waveform
    #: stays above this (electrons per tick; 0: to the ROI's edge, the output being 0 outside).
    hit_floor: float = 0.0
    cluster_wire_gap: int = 2
    cluster_tick_gap: int = 6
    min_track_hits: int = 8
    min_track_wires: int = 10
    ticks_per_wire: float = 6.0  # one collection wire pitch ~ 6 ticks of drift
    line_tolerance: float = 1.5  # wire pitches, perpendicular distance
    ransac_trials: int = 200


def find_hits(
    wave: np.ndarray,
    threshold: np.ndarray | float,
    channels: np.ndarray | None = None,
    min_width: int = 2,
    floor: float | None = 0.0,
) -> np.ndarray:
    """Hits as runs of ticks above threshold.

    ``start``/``end``/``width`` are the run above threshold; ``integral`` is the charge of the
    whole pulse: the run extended on both sides while the waveform stays above ``floor``
    (0: to the edges of the region of interest, outside which the deconvolved output is 0), and
    split at the lowest tick between two hits of the same pulse, so that no tick counts twice.
    The run alone misses the pulse's tails (2-3 % of a collection crossing's charge at 4 RMS);
    ``floor=None`` integrates the run only (the former behaviour).

    Parameters
    ----------
    wave : numpy.ndarray
        ``(n_rows, n_ticks)`` processed waveforms.
    threshold : float or numpy.ndarray
        Per-row (or global) threshold.
    channels : numpy.ndarray, optional
        Channel number of each row (default: row index).
    min_width : int
        Shortest run kept, in ticks.

    Returns
    -------
    numpy.ndarray
        ``HIT_DTYPE`` records sorted by channel then start tick.
    """
    n, nt = wave.shape
    thr = np.broadcast_to(
        np.asarray(threshold, dtype=np.float32).reshape(-1, 1)
        if np.ndim(threshold)
        else np.float32(threshold),
        (n, 1),
    )
    above = np.zeros((n, nt + 2), dtype=np.int8)
    above[:, 1:-1] = wave > thr
    edges = np.diff(above, axis=1)
    rs, ts = np.nonzero(edges == 1)
    re, te = np.nonzero(edges == -1)  # same order: row-major, paired
    keep = (te - ts) >= min_width
    rs, ts, te = rs[keep], ts[keep], te[keep]
    hits = np.zeros(rs.size, dtype=HIT_DTYPE)
    if rs.size == 0:
        return hits
    flat = wave.reshape(-1)
    a, b = rs * nt + ts, rs * nt + te
    csum = np.concatenate([[0.0], np.cumsum(flat, dtype=np.float64)])
    peak_off = np.array(
        [int(np.argmax(flat[i:j])) for i, j in zip(a, b, strict=True)], dtype=np.int64
    )
    peak_tick = (ts + peak_off).astype(np.int32)
    peaks = flat[a + peak_off]
    hits["channel"] = rs if channels is None else np.asarray(channels)[rs]
    hits["start"], hits["end"] = ts, te
    hits["peak_tick"] = peak_tick
    hits["amplitude"] = peaks
    if floor is None:
        hits["integral"] = csum[b] - csum[a]
    else:
        lo, hi = pulse_bounds(wave, rs, ts, te, floor)
        hits["integral"] = csum[rs * nt + hi] - csum[rs * nt + lo]
    hits["width"] = te - ts
    return hits


def pulse_bounds(
    wave: np.ndarray, rows: np.ndarray, starts: np.ndarray, stops: np.ndarray, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi)`` of each run (row-major order) widened while ``wave > floor``, neighbouring
    runs of a row parted at the lowest tick between them (see :func:`find_hits`)."""
    n, nt = wave.shape
    lo, hi = starts.copy(), stops.copy()
    for i in range(rows.size):
        w = wave[rows[i]]
        left = 0 if i == 0 or rows[i - 1] != rows[i] else None
        if left is None:
            gap = w[stops[i - 1] : starts[i]]
            left = stops[i - 1] + int(np.argmin(gap)) if gap.size else starts[i]
            if gap.size and gap.min() > floor:
                left += 1  # the lowest tick goes to the earlier hit
        j = starts[i]
        while j > left and w[j - 1] > floor:
            j -= 1
        lo[i] = j
        right = nt if i + 1 == rows.size or rows[i + 1] != rows[i] else None
        if right is None:
            gap = w[stops[i] : starts[i + 1]]
            right = stops[i] + int(np.argmin(gap)) + (1 if gap.size and gap.min() > floor else 0)
        j = stops[i]
        while j < right and w[j] > floor:
            j += 1
        hi[i] = j
    return lo, hi


def cluster_hits(
    hits: np.ndarray, wire_gap: int = 2, tick_gap: int = 6, face_size: int | None = None
) -> np.ndarray:
    """Connected groups of hits: neighbours within ``wire_gap`` channels whose tick ranges
    come within ``tick_gap`` ticks (plus one hit width per skipped wire, so that a steep track
    stays whole across a dead wire). Channels in different faces (``channel // face_size``)
    never join.

    Returns
    -------
    numpy.ndarray
        Cluster label of each hit (0..n_clusters-1).
    """
    n = hits.size
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = np.lexsort((hits["start"], hits["channel"]))
    ch = hits["channel"][order]
    starts = np.searchsorted(ch, ch, side="left")
    for pos in range(n):
        i = order[pos]
        c = ch[pos]
        j0 = starts[pos]
        j1 = np.searchsorted(ch, c + wire_gap, side="right")
        for q in range(j0, j1):
            j = order[q]
            if j == i or (face_size and ch[q] // face_size != c // face_size):
                continue
            # Across a missing wire, a steep track moves by about one hit width in ticks.
            gap = tick_gap + (abs(int(ch[q]) - int(c)) - 1) * max(
                hits["width"][i], hits["width"][j]
            )
            if (
                hits["start"][j] - gap <= hits["end"][i]
                and hits["start"][i] - gap <= hits["end"][j]
            ):
                ri, rj = root(i), root(j)
                if ri != rj:
                    parent[ri] = rj
    roots = np.array([root(i) for i in range(n)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1] if n else roots


def fit_line(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Total-least-squares line through ``(k, 2)`` points: (centre, direction, RMS distance)."""
    c = points.mean(axis=0)
    _, s, vt = np.linalg.svd(points - c, full_matrices=False)
    rms = float(s[-1] / np.sqrt(len(points))) if len(s) > 1 else 0.0
    return c, vt[0], rms


def count_lines(points: np.ndarray, cfg: RecoConfig, rng: np.random.Generator) -> int:
    """Straight lines in a cluster: 1 if one line fits, else sequential RANSAC."""
    c, d, rms = fit_line(points)
    if rms <= cfg.line_tolerance:
        return 1 if _is_track(points, cfg) else 0
    remaining = points
    found = 0
    while len(remaining) >= cfg.min_track_hits:
        best = None
        for _ in range(cfg.ransac_trials):
            i, j = rng.choice(len(remaining), 2, replace=False)
            d = remaining[j] - remaining[i]
            norm = np.hypot(*d)
            if norm == 0:
                continue
            nrm = np.array([-d[1], d[0]]) / norm
            inl = np.abs((remaining - remaining[i]) @ nrm) <= cfg.line_tolerance
            if best is None or inl.sum() > best.sum():
                best = inl
        if best is None or not _is_track(remaining[best], cfg):
            break
        found += 1
        remaining = remaining[~best]
    return found


def _is_track(points: np.ndarray, cfg: RecoConfig) -> bool:
    return len(points) >= cfg.min_track_hits and np.ptp(points[:, 0]) + 1 >= cfg.min_track_wires


def count_tracks(hits: np.ndarray, labels: np.ndarray, cfg: RecoConfig, seed: int = 0) -> int:
    """Straight tracks among clusters of collection hits.

    Points are ``(wire, peak_tick / ticks_per_wire)`` so both axes are in wire pitches; a
    cluster counts as one track when a line fits within ``line_tolerance`` and it spans at
    least ``min_track_wires`` wires with ``min_track_hits`` hits; otherwise lines are taken
    out one at a time (RANSAC) and each good one counts.
    """
    rng = np.random.default_rng(seed)
    total = 0
    for lab in np.unique(labels):
        sel = hits[labels == lab]
        if sel.size < cfg.min_track_hits:
            continue
        pts = np.column_stack([sel["channel"].astype(float), sel["peak_tick"] / cfg.ticks_per_wire])
        total += count_lines(pts, cfg, rng)
    return total


def reconstruct_collection(
    deconv: np.ndarray, noise: np.ndarray, det: Detector, cfg: RecoConfig | None = None
) -> dict:
    """Hits, clusters and track count on the collection plane of one APA-event.

    Parameters
    ----------
    deconv : numpy.ndarray
        ``(n_channels, n_ticks)`` deconvolved waveforms (electrons per tick), offline order.
    noise : numpy.ndarray
        Per-channel noise RMS of the deconvolved waveforms (threshold = ``hit_sigma`` x noise).
    det : Detector
    cfg : RecoConfig, optional

    Returns
    -------
    dict
        ``hits`` (``HIT_DTYPE``, channel numbers within the APA), ``labels``, ``n_clusters``,
        ``n_tracks``.
    """
    cfg = cfg or RecoConfig()
    sl = det.plane_slice(2)
    thr = cfg.hit_sigma * np.maximum(noise[sl], 1e-3)
    hits = find_hits(
        deconv[sl],
        thr,
        channels=np.arange(sl.start, sl.stop),
        min_width=cfg.hit_min_width,
        floor=cfg.hit_floor,
    )
    face = det.n_x // 2
    local = hits.copy()
    local["channel"] -= sl.start
    labels = cluster_hits(local, cfg.cluster_wire_gap, cfg.cluster_tick_gap, face_size=face)
    # Track fitting in face-local wire numbers (faces are separate drift volumes).
    n_tracks = count_tracks(local, labels, cfg)
    return {
        "hits": hits,
        "labels": labels,
        "n_clusters": int(labels.max() + 1) if labels.size else 0,
        "n_tracks": n_tracks,
    }

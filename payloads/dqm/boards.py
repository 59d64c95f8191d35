"""Board-level health: per-FEMB and per-ASIC pedestal, noise and dead fraction against the plane.

DETECTOR.md lists the board faults a shift must see: an ASIC with a wrong baseline setting
(collection channels near the induction pedestal, ~2,300 ADC, losing most of their range), a
noisy ASIC, a FEMB that drops out (all zeros) or freezes (constant values). Each is judged
against the rest of its plane with robust statistics (median, 1.4826 x MAD), so the same
thresholds hold whatever the detector's nominal pedestals and noise are:

* ASIC pedestal shift = ASIC median pedestal (live channels of one plane) minus the plane's
  median; flagged beyond ``shift_sigma`` robust standard deviations of the plane's ASIC medians
  (channel pedestals spread by O(100) ADC, so an ASIC median of 5-6 channels spreads by ~50 ADC
  and the bar is ~300 ADC; a flipped baseline moves ~1,400 ADC);
* ASIC noise ratio = ASIC median RMS / plane median RMS (a median, so one noisy channel does
  not make a noisy ASIC); flagged above ``1 + rms_sigma`` robust spreads of the plane's ratios and
  at least ``rms_ratio_min``;
* FEMB missing: every channel of the board without variation; ``zeros`` when they read 0
  (a dropped board), ``frozen`` otherwise (constant values, the board's bit still set);
* with the ``bands`` condition (per plane pedestal/RMS error bands, ADC), an ASIC median outside
  its plane's error band is flagged too.
"""

from __future__ import annotations

import numpy as np

from payloads.detector import PLANES, Detector
from payloads.dqm.adc import noise_rms


def group_median(values: np.ndarray, groups: np.ndarray, n_groups: int, use: np.ndarray):
    """Median of ``values[use]`` per group (NaN for an empty group), any channel map."""
    idx = np.flatnonzero(use)
    g, v = groups[idx], values[idx].astype(np.float64)
    order = np.lexsort((v, g))
    g, v = g[order], v[order]
    counts = np.bincount(g, minlength=n_groups)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full(n_groups, np.nan)
    ok = counts > 0
    lo = start[ok] + (counts[ok] - 1) // 2
    hi = start[ok] + counts[ok] // 2
    out[ok] = 0.5 * (v[lo] + v[hi])
    return out


def group_mean(values: np.ndarray, groups: np.ndarray, n_groups: int, use: np.ndarray):
    """Mean of ``values[use]`` per group (NaN for an empty group)."""
    s = np.bincount(groups[use], weights=values[use].astype(np.float64), minlength=n_groups)
    c = np.bincount(groups[use], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / c


def _robust(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    c = float(np.median(x))
    return c, float(1.4826 * np.median(np.abs(x - c)))


def board_summary(
    stats: dict[str, np.ndarray],
    bad: dict[str, np.ndarray],
    det: Detector,
    bands: dict | None = None,
    shift_sigma: float = 6.0,
    rms_sigma: float = 6.0,
    rms_ratio_min: float = 1.25,
) -> dict:
    """Per-board figures and faults of one APA (see the module docstring).

    Returns
    -------
    dict
        ``femb``: arrays ``(n_fembs, 3)`` ``pedestal_mean``, ``rms_mean``, ``dead_fraction``;
        ``asic``: arrays ``(n_fembs, 8, 3)`` ``pedestal_mean``, ``rms_mean``,
        ``pedestal_shift`` (ADC), ``rms_ratio``; ``femb_missing`` ``(n_fembs,)`` 0/1,
        ``femb_state`` (``ok``, ``zeros``, ``frozen``), ``plane`` (median pedestal and RMS per
        plane), ``faults`` (list of dicts ``kind``, ``femb``, ``asic``, ``plane``, ``value``,
        ``limit``).
    """
    nf, apg = det.n_fembs, det.asics_per_femb
    dead = bad["dead"]
    rms = noise_rms(stats, bad.get("sticky"))
    ped = stats["median"]
    live = ~dead
    g_femb = det.femb * 3 + det.plane_index
    g_asic = det.asic * 3 + det.plane_index
    femb = {
        "pedestal_mean": group_mean(ped, g_femb, nf * 3, live).reshape(nf, 3),
        "rms_mean": group_mean(rms, g_femb, nf * 3, live & ~bad["noisy"]).reshape(nf, 3),
        "dead_fraction": (
            np.bincount(g_femb, weights=dead.astype(float), minlength=nf * 3)
            / np.maximum(np.bincount(g_femb, minlength=nf * 3), 1)
        ).reshape(nf, 3),
    }
    a_ped = group_median(ped, g_asic, nf * apg * 3, live).reshape(nf, apg, 3)
    a_rms = group_median(rms, g_asic, nf * apg * 3, live).reshape(nf, apg, 3)
    asic = {
        "pedestal_mean": group_mean(ped, g_asic, nf * apg * 3, live).reshape(nf, apg, 3),
        "rms_mean": group_mean(rms, g_asic, nf * apg * 3, live & ~bad["noisy"]).reshape(nf, apg, 3),
        "pedestal_shift": np.full((nf, apg, 3), np.nan),
        "rms_ratio": np.full((nf, apg, 3), np.nan),
    }
    faults: list[dict] = []
    plane_fig = {}
    all_dead = np.bincount(det.femb[dead], minlength=nf) == np.bincount(det.femb, minlength=nf)
    for p, name in enumerate(PLANES):
        sl = det.plane_slice(p)
        ped_c = float(np.median(ped[sl][live[sl]])) if live[sl].any() else float("nan")
        rms_c = float(np.median(rms[sl][live[sl]])) if live[sl].any() else float("nan")
        plane_fig[name] = {"pedestal_median": ped_c, "rms_median": rms_c}
        shift = a_ped[:, :, p] - ped_c
        ratio = a_rms[:, :, p] / rms_c if rms_c > 0 else np.full((nf, apg), np.nan)
        asic["pedestal_shift"][:, :, p] = shift
        asic["rms_ratio"][:, :, p] = ratio
        _, s_spread = _robust(shift.ravel())
        s_limit = shift_sigma * max(s_spread, 1.0)
        r_centre, r_spread = _robust(ratio.ravel())
        r_limit = max(r_centre + rms_sigma * max(r_spread, 0.01), rms_ratio_min)
        band = ((bands or {}).get("planes") or {}).get(name) or {}
        ped_band = (band.get("pedestal") or {}).get("error")
        rms_band = (band.get("rms") or {}).get("error")
        for f in range(nf):
            if all_dead[f]:
                continue
            for a in range(apg):
                where = {"femb": f, "asic": a, "plane": name}
                if np.isfinite(shift[f, a]) and abs(shift[f, a]) > s_limit:
                    faults.append(
                        dict(
                            where,
                            kind="asic_pedestal_shift",
                            value=float(shift[f, a]),
                            limit=float(s_limit),
                        )
                    )
                if np.isfinite(ratio[f, a]) and ratio[f, a] > r_limit:
                    faults.append(
                        dict(
                            where, kind="asic_noisy", value=float(ratio[f, a]), limit=float(r_limit)
                        )
                    )
                if (
                    ped_band
                    and np.isfinite(a_ped[f, a, p])
                    and not (ped_band[0] <= a_ped[f, a, p] <= ped_band[1])
                ):
                    faults.append(
                        dict(
                            where,
                            kind="asic_pedestal_out_of_band",
                            value=float(a_ped[f, a, p]),
                            limit=list(ped_band),
                        )
                    )
                if (
                    rms_band
                    and np.isfinite(a_rms[f, a, p])
                    and not (rms_band[0] <= a_rms[f, a, p] <= rms_band[1])
                ):
                    faults.append(
                        dict(
                            where,
                            kind="asic_rms_out_of_band",
                            value=float(a_rms[f, a, p]),
                            limit=list(rms_band),
                        )
                    )
    state = []
    for f in range(nf):
        if not all_dead[f]:
            state.append("ok")
            continue
        zeros = bool(np.all(stats["mean"][det.femb == f] == 0))
        state.append("zeros" if zeros else "frozen")
        faults.append(
            {
                "kind": f"femb_{state[-1]}",
                "femb": f,
                "asic": None,
                "plane": None,
                "value": 1.0,
                "limit": None,
            }
        )
    return {
        "femb": femb,
        "asic": asic,
        "femb_missing": all_dead.astype(int),
        "femb_state": state,
        "plane": plane_fig,
        "faults": faults,
    }

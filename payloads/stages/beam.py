"""``dqm-bi``: beam instrumentation - momentum spectrum, beam position and width per monitor,
dead fibres; per spill (files of the shared history, one per SPS supercycle) the beam profile
and the composition by particle type."""

from __future__ import annotations

import sys

import numpy as np

from payloads import plots
from payloads.daqsim.beam import N_FIBRES, N_MONITORS
from payloads.jobio import Result
from payloads.rawio import FORMAT_BI, RawFile, select_events
from payloads.stages import common


def build_parser():
    p = common.make_parser("dqm-bi", __doc__.splitlines()[0])
    p.add_argument("--no-plots", action="store_true")
    return p


def summarize_beam(fibres: np.ndarray, momenta: np.ndarray) -> dict:
    """Beam profile moments and dead fibres from summed fibre counts ``(monitor, plane, fibre)``.

    Position and width are the mean and standard deviation of the fibre-count distribution
    (fibre centres, mm from the monitor centre); a fibre is dead when it has no counts while
    both neighbours on each side average more than 5 counts; dead fibres count as the mean of
    those neighbours in the moments.
    """
    x = np.arange(N_FIBRES) + 0.5 - N_FIBRES / 2
    pad = np.pad(fibres.astype(float), ((0, 0), (0, 0), (2, 2)), mode="edge")
    neigh = (pad[..., :-4] + pad[..., 1:-3] + pad[..., 3:-1] + pad[..., 4:]) / 4
    dead = (fibres == 0) & (neigh > 5)
    filled = np.where(dead, neigh, fibres)  # dead fibres would bias the moments
    tot = filled.sum(axis=-1)
    mean = (filled * x).sum(axis=-1) / np.maximum(tot, 1)
    var = (filled * x**2).sum(axis=-1) / np.maximum(tot, 1) - mean**2
    return {
        "mean_mm": mean,
        "sigma_mm": np.sqrt(np.maximum(var, 0)),
        "dead": dead,
        "momentum_mean": float(momenta.mean()) if momenta.size else float("nan"),
        "momentum_rms": float(momenta.std()) if momenta.size else float("nan"),
    }


SPECIES = ("e", "pi", "p", "mu")  # the BI particle-identification codes (daqsim history)


def summarize_spill(group) -> dict | None:
    """Profile and composition of one spill record (None for records without particle
    identification): particles, mean and RMS of x and y (mm), fraction of each species."""
    if "species" not in group:
        return None
    species = group["species"][()]
    x, y = group["x_mm"][()].astype(float), group["y_mm"][()].astype(float)
    n = int(species.size)
    counts = np.bincount(species, minlength=len(SPECIES))[: len(SPECIES)]
    return {
        "particles": n,
        "position_mm": (float(x.mean()), float(y.mean())) if n else (np.nan, np.nan),
        "width_mm": (float(x.std()), float(y.std())) if n else (np.nan, np.nan),
        "fraction": {
            sp: float(c) / n if n else np.nan for sp, c in zip(SPECIES, counts, strict=True)
        },
    }


def add_spill_metrics(result: Result, labels: dict, spill: int, s: dict) -> None:
    lab = dict(labels, spill=spill)
    result.add_metric("bi_spill_particles", s["particles"], **lab)
    for axis, pos, width in zip("xy", s["position_mm"], s["width_mm"], strict=True):
        result.add_metric("bi_spill_position_mm", pos, **lab, axis=axis)
        result.add_metric("bi_spill_width_mm", width, **lab, axis=axis)
    for sp, frac in s["fraction"].items():
        result.add_metric("bi_spill_fraction", frac, **lab, species=sp)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result: Result):
        path = common.data_file(job, args)
        out = common.output_dir(job, args)
        frac = common.event_fraction(job, args)
        with RawFile(path, expect=FORMAT_BI) as raw:
            labels = common.labels_of(job, raw.attrs)
            fibres = np.zeros((N_MONITORS, 2, N_FIBRES), dtype=np.int64)
            momenta = []
            for pos in select_events(raw.n_events, frac):
                g = raw.group(int(pos))
                fibres += g["fibres"][()].astype(np.int64)
                momenta.append(g["momentum_gev"][()])
                spill = summarize_spill(g)
                if spill is not None:
                    add_spill_metrics(result, labels, int(pos), spill)
        mom = np.concatenate(momenta) if momenta else np.zeros(0)
        s = summarize_beam(fibres, mom)
        result.add_metric("bi_momentum_mean_gev", s["momentum_mean"], **labels)
        result.add_metric("bi_momentum_rms_gev", s["momentum_rms"], **labels)
        for m in range(fibres.shape[0]):
            for p, axis in enumerate("xy"):
                lab = dict(labels, monitor=m, axis=axis)
                result.add_metric("bi_beam_position_mm", s["mean_mm"][m, p], **lab)
                result.add_metric("bi_beam_width_mm", s["sigma_mm"][m, p], **lab)
                result.add_metric("bi_dead_fibres", int(s["dead"][m, p].sum()), **lab)
        if not args.no_plots:
            stem = common.output_name(job, "bi", path, "")
            hist, edges = np.histogram(mom, bins=60)
            f = plots.plot_series(
                0.5 * (edges[1:] + edges[:-1]),
                {"particles": hist},
                "momentum [GeV/c]",
                "particles",
                f"{path.name}: momentum spectrum",
                out / f"{stem}-momentum.png",
                kind="step",
            )
            result.add_product(f, "png", "beam momentum spectrum")
            x = np.arange(N_FIBRES) + 0.5 - N_FIBRES / 2
            f = plots.plot_series(
                x,
                {
                    f"monitor {m} {a}": fibres[m, p]
                    for m in range(fibres.shape[0])
                    for p, a in enumerate("xy")
                },
                "position [mm]",
                "counts",
                f"{path.name}: beam profiles",
                out / f"{stem}-profiles.png",
                kind="step",
            )
            result.add_product(f, "png", "beam profiles")
            fig = plots.bokeh_scatter(
                x, fibres[0, 0], "beam profile, monitor 0 x", "position [mm]", "counts"
            )
            f = plots.save_bokeh(fig, out / f"{stem}-profile.json")
            result.add_product(f, "bokeh", "beam profile (interactive)")

    return common.run_stage("dqm-bi", parser, argv, body)


if __name__ == "__main__":
    sys.exit(main())

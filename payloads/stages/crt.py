"""``dqm-crt``: cosmic-ray tagger - hit rates per module, dead and hot strips."""

from __future__ import annotations

import sys

import numpy as np

from payloads import plots
from payloads.jobio import Result
from payloads.rawio import FORMAT_CRT, RawFile, select_events
from payloads.stages import common


def build_parser():
    p = common.make_parser("dqm-crt", __doc__.splitlines()[0])
    p.add_argument(
        "--hot-factor",
        type=float,
        default=5.0,
        help="hot strip: more than this many times its module's median rate",
    )
    p.add_argument("--no-plots", action="store_true")
    return p


def strip_occupancy(hits: list[np.ndarray], n_modules: int, n_strips: int) -> np.ndarray:
    """Hits per event on every strip, ``(n_modules, n_strips)``."""
    counts = np.zeros(n_modules * n_strips)
    for h in hits:
        counts += np.bincount(
            h["module"].astype(int) * n_strips + h["strip"], minlength=counts.size
        )
    return (counts / max(len(hits), 1)).reshape(n_modules, n_strips)


def find_bad_strips(
    occ: np.ndarray, n_events: int, hot_factor: float = 5.0
) -> dict[str, np.ndarray]:
    """Dead strips (no hits where the module median predicts more than 10 over the events) and
    hot strips (above ``hot_factor`` x the module median); global strip numbers."""
    med = np.median(occ, axis=1, keepdims=True)
    dead = (occ == 0) & (med * n_events > 10)
    hot = occ > hot_factor * np.maximum(med, 1e-9)
    return {"dead": np.flatnonzero(dead.ravel()), "hot": np.flatnonzero(hot.ravel())}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result: Result):
        path = common.data_file(job, args)
        out = common.output_dir(job, args)
        frac = common.event_fraction(job, args)
        with RawFile(path, expect=FORMAT_CRT) as raw:
            labels = common.labels_of(job, raw.attrs)
            n_mod, n_str = int(raw.attrs["n_modules"]), int(raw.attrs["n_strips"])
            hits = [raw.group(int(p))["hits"][()] for p in select_events(raw.n_events, frac)]
        occ = strip_occupancy(hits, n_mod, n_str)
        bad = find_bad_strips(occ, len(hits), args.hot_factor)
        result.add_metric("crt_hits_per_event", float(np.mean([h.size for h in hits])), **labels)
        result.add_metric("crt_dead_strips", bad["dead"].size, **labels)
        result.add_metric("crt_hot_strips", bad["hot"].size, **labels)
        result.add_metric("crt_events", len(hits), **labels)
        if not args.no_plots:
            stem = common.output_name(job, "crt", path, "")
            f = plots.plot_map(
                occ,
                "module",
                "strip",
                "CRT hits per event",
                "hits/event",
                out / f"{stem}-occupancy.png",
            )
            result.add_product(f, "png", "CRT strip occupancy")
            fig = plots.bokeh_channel_values(
                np.arange(occ.size),
                {"hits/event": occ.ravel()},
                "CRT occupancy per strip",
                "hits per event",
            )
            f = plots.save_bokeh(fig, out / f"{stem}-occupancy.json")
            result.add_product(f, "bokeh", "CRT occupancy (interactive)")

    return common.run_stage("dqm-crt", parser, argv, body)


if __name__ == "__main__":
    sys.exit(main())

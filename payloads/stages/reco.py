"""``dqm-reco``: hits, clusters and straight-track counts on collection, from ``dqm-sig`` output.

Writes ``reco-<job>-<file>.h5`` (kind ``p3s-reco/1``): per event group ``event_<n>/apa_<k>``
a ``hits`` table (channel, start, end, peak_tick, amplitude, integral [electrons], width) with
attributes ``n_clusters`` and ``n_tracks``.
"""

from __future__ import annotations

import sys
import time

import h5py
import numpy as np

from payloads import plots
from payloads.detector import DEFAULT
from payloads.dqm.reco import RecoConfig, reconstruct_collection
from payloads.errors import InputError
from payloads.jobio import release_outputs
from payloads.stages import common
from payloads.stages import sig as sigstage

KIND = "p3s-reco/1"


def build_parser():
    p = common.make_parser("dqm-reco", __doc__.splitlines()[0])
    p.add_argument("--hit-sigma", type=float, default=4.0, help="hit threshold in noise RMS")
    p.add_argument("--no-plots", action="store_true", help="metrics and outputs only")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result):
        det = DEFAULT
        shares = common.parent_shares(job, sigstage.KIND, args)
        if not shares:
            raise InputError(
                "dqm-reco needs a dqm-sig parent output (kind p3s-sig/1); none among "
                f"the job's parent outputs {job.parents or job.inputs[1:]}"
            )
        out = common.output_dir(job, args)
        raw_path = common.data_file(job, args)
        labels = {"stream": str(job.file.get("stream", "tpc")), "run": str(job.file.get("run", ""))}
        cfg = RecoConfig(hit_sigma=args.hit_sigma)
        dest = out / common.output_name(job, "reco", raw_path)
        stem = common.output_name(job, "reco", raw_path, "")
        per_apa: dict[int, list[tuple[int, int, float]]] = {}
        t0 = time.perf_counter()
        first, shown = True, None
        with h5py.File(dest, "w") as oh:
            oh.attrs["kind"] = KIND
            oh.attrs["source"] = ";".join(str(src) for src, _, _ in shares)
            for ev, apa, g in _groups(shares):
                rec = reconstruct_collection(
                    g["deconvolved"][()], g["rms_deconvolved"][()], det, cfg
                )
                og = oh.require_group(f"event_{int(ev)}").create_group(f"apa_{int(apa)}")
                og.create_dataset("hits", data=rec["hits"])
                og.attrs["n_clusters"] = rec["n_clusters"]
                og.attrs["n_tracks"] = rec["n_tracks"]
                charge = float(np.median(rec["hits"]["integral"])) if rec["hits"].size else 0.0
                per_apa.setdefault(int(apa), []).append((rec["hits"].size, rec["n_tracks"], charge))
                if first and not args.no_plots:  # drawn once the output is released
                    first = False
                    shown = (int(ev), int(apa), g["deconvolved"][det.plane_slice(2)], rec)
        result.add_output(dest)
        release_outputs(result)  # Vis starts now
        if shown is not None:
            hit_products(result, out, stem, *shown, det)
        for apa, rows in per_apa.items():
            arr = np.array(rows, dtype=float)
            lab = dict(labels, apa=apa)
            result.add_metric("reco_hits_per_event", arr[:, 0].mean(), **lab)
            result.add_metric("reco_tracks_per_event", arr[:, 1].mean(), **lab)
            result.add_metric("reco_hit_charge_median", arr[:, 2].mean(), **lab)
        result.add_metric("reco_seconds", time.perf_counter() - t0, **labels)

    return common.run_stage("dqm-reco", parser, argv, body)


def hit_products(result, out, stem, ev: int, apa: int, image, rec: dict, det) -> None:
    """The hit display of one APA-event: a PNG and an interactive scatter of the hits."""
    hits = rec["hits"]
    f = plots.plot_event_display(
        {"deconvolved collection [electrons/tick] with hits": image},
        f"event {ev} APA {apa}: {hits.size} hits, {rec['n_tracks']} tracks",
        out / f"{stem}-ev{ev}-apa{apa}-hits.png",
        hits=_local(hits, det),
    )
    result.add_product(f, "png", f"event {ev} APA {apa} hits and tracks", apa=apa, plane="x")
    fig = plots.bokeh_scatter(
        hits["channel"],
        hits["peak_tick"],
        f"event {ev} APA {apa}: collection hits",
        "channel",
        "peak tick",
    )
    f = plots.save_bokeh(fig, out / f"{stem}-ev{ev}-apa{apa}-hits.json")
    result.add_product(f, "bokeh", f"event {ev} APA {apa} hits (interactive)", apa=apa, plane="x")


def _groups(shares):
    """``(event, apa, group)`` over this job's share of the SIG outputs, the file
    open while its groups are read."""
    for src, events, apas in shares:
        with h5py.File(src, "r") as h5:
            for ev in events:
                for apa in apas:
                    name = f"event_{ev}/apa_{apa}"
                    if name not in h5:
                        raise InputError(f"{src}: missing {name} listed in its attributes")
                    yield ev, apa, h5[name]


def _local(hits: np.ndarray, det) -> np.ndarray:
    out = hits.copy()
    out["channel"] -= det.plane_slice(2).start
    return out


if __name__ == "__main__":
    sys.exit(main())

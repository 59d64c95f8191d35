"""``dqm-vis``: summary displays after SIG (and RECO): filtered-noise histograms with reference
bands, board maps of noise before and after filtering, and event displays with hits."""

from __future__ import annotations

import sys

import h5py
import numpy as np

from payloads import plots
from payloads.detector import DEFAULT, PLANES
from payloads.dqm import adc as adcm
from payloads.errors import InputError
from payloads.jobio import Result
from payloads.stages import common
from payloads.stages import reco as recostage
from payloads.stages import sig as sigstage


def build_parser():
    p = common.make_parser("dqm-vis", __doc__.splitlines()[0])
    p.add_argument("--max-events", type=int, default=1, help="event displays per APA")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result: Result):
        shares = common.parent_shares(job, sigstage.KIND, args)
        if not shares:
            raise InputError("dqm-vis needs a dqm-sig parent output (kind p3s-sig/1)")
        reco_paths = common.parent_outputs(job, recostage.KIND)
        out = common.output_dir(job, args)
        raw_path = common.data_file(job, args)
        stem = common.output_name(job, "vis", raw_path, "")
        for sig_path, events, apas in shares:
            with h5py.File(sig_path, "r") as h5:
                for apa in apas:
                    _apa_products(
                        h5, apa, events[: max(args.max_events, 1)], reco_paths, out, stem, result
                    )

    return common.run_stage("dqm-vis", parser, argv, body)


def _hits(reco_paths: list, ev: int, apa: int):
    """The RECO hits of one APA-event, from whichever RECO output (part) holds them."""
    key = f"event_{ev}/apa_{apa}/hits"
    for path in reco_paths:
        with h5py.File(path, "r") as rh:
            if key in rh:
                return rh[key][()]
    return None


def _apa_products(
    h5, apa: int, events: list[int], reco_paths: list, out, stem: str, result: Result
):
    """One APA's displays: filtered noise, noise per channel, board maps, event displays."""
    det = DEFAULT
    g = h5[f"event_{events[0]}/apa_{apa}"]
    live = ~g["bad"][()]
    rms_f, rms_r = g["rms_filtered"][()], g["rms_raw"][()]
    vals = {n: np.where(live, rms_f, np.nan)[det.plane_slice(p)] for p, n in enumerate(PLANES)}
    f = plots.plot_histograms_with_bands(
        vals,
        adcm.REFERENCE_RMS,
        "RMS after noise filter [ADC]",
        f"APA {apa}: filtered noise",
        out / f"{stem}-apa{apa}-rmsf.png",
    )
    result.add_product(f, "png", f"APA {apa} filtered noise per plane", apa=apa)
    fig = plots.bokeh_channel_values(
        np.arange(det.n_channels),
        {
            "raw": np.where(live, rms_r, np.nan),
            "filtered": np.where(live, rms_f, np.nan),
        },
        f"APA {apa}: noise per channel before and after filtering",
        "RMS [ADC]",
    )
    f = plots.save_bokeh(fig, out / f"{stem}-apa{apa}-noise.json")
    result.add_product(f, "bokeh", f"APA {apa} noise per channel (interactive)", apa=apa)
    for name, r in (("raw", rms_r), ("filtered", rms_f)):
        board = np.column_stack(
            [
                adcm.aggregate(
                    np.where(live, r, 0)[det.plane_slice(p)],
                    det.femb[det.plane_slice(p)],
                    det.n_fembs,
                )
                for p in range(3)
            ]
        )
        f = plots.plot_board_map(
            board,
            f"APA {apa}: mean {name} noise per FEMB and plane",
            "RMS [ADC]",
            out / f"{stem}-apa{apa}-boards-{name}.png",
        )
        result.add_product(f, "png", f"APA {apa} board map ({name} noise)", apa=apa)
    for ev in events:
        g = h5[f"event_{ev}/apa_{apa}"]
        hits = _hits(reco_paths, ev, apa)
        if hits is not None:
            hits = hits.copy()
            hits["channel"] -= det.plane_slice(2).start
        sl = det.plane_slice(2)
        panels = {}
        if "filtered" in g:
            panels["filtered collection [ADC]"] = g["filtered"][sl].astype(np.float32)
        panels["deconvolved collection [electrons/tick]"] = g["deconvolved"][sl]
        f = plots.plot_event_display(
            panels,
            f"event {ev} APA {apa}",
            out / f"{stem}-ev{ev}-apa{apa}.png",
            hits=hits,
        )
        result.add_product(f, "png", f"event {ev} APA {apa} collection display", apa=apa, plane="x")


if __name__ == "__main__":
    sys.exit(main())

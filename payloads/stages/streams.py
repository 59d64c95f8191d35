"""``dqm-streams``: the three streams matched - beam-on/off TPC activity per APA from the BI
spill times, and CRT-TPC muon matching (fraction found, time and position residuals).

Runs as a matched stage (``match: {streams: [bi, crt]}``, p3s/dags/matching.py): the server
appends ``--matched`` (stream -> file URLs overlapping the TPC file) and ``--match-missing``
(stream -> uncovered intervals). A missing stream is reported (``streams_missing``) and its
part skipped; the rest still runs.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import h5py
import numpy as np

from payloads import plots
from payloads.jobio import Result, url_to_path
from payloads.rawio import FORMAT_TPC, RawFile, select_events
from payloads.stages import common
from payloads.streams import beamtag, crtmatch


def build_parser():
    p = common.make_parser("dqm-streams", __doc__.splitlines()[0])
    p.add_argument("--matched", default="{}", help="JSON: stream -> matched file URLs")
    p.add_argument("--match-missing", default="{}", help="JSON: stream -> uncovered intervals")
    p.add_argument("--threshold", type=float, default=30.0, help="ADC over the channel median")
    p.add_argument("--no-plots", action="store_true")
    return p


def _unix(text: str) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def crt_records(paths) -> tuple[dict[int, np.ndarray], dict]:
    """CRT hits by record time (ms) and the tagger geometry, from the matched CRT files."""
    by_ms: dict[int, np.ndarray] = {}
    geo: dict = {}
    for path in paths:
        with h5py.File(path, "r") as h5:
            if "patches_z" not in h5.attrs:
                continue  # a CRT file without the top-tagger geometry: nothing to match
            geo = {
                k: float(h5.attrs[k])
                for k in ("strip_x_mm", "strip_z_mm", "patch_z_mm", "apa_width_mm", "patches_z")
            }
            for name in h5:
                if name.startswith("event_"):
                    by_ms[round(_unix(h5[name].attrs["timestamp"]) * 1000)] = h5[name]["hits"][()]
    return by_ms, geo


def analyse(tpc_path, bi_paths, crt_paths, frac: float = 1.0, threshold: float = 30.0) -> dict:
    """Everything the stage measures, as plain numbers (tests call this)."""
    spills = beamtag.read_spills(bi_paths)
    crt_by_ms, geo = crt_records(crt_paths)
    mcfg = crtmatch.MatchConfig(threshold_adc=threshold)
    activity: dict[int, list[float]] = {}
    beam: list[bool] = []
    found, dt, dz = [], [], []
    with RawFile(tpc_path, expect=FORMAT_TPC) as raw:
        det = raw.det
        apas = [int(a) for a in raw.attrs["apas"]]
        attrs = dict(raw.attrs)
        for pos in select_events(raw.n_events, frac):
            t = _unix(raw.event_attrs(int(pos))["timestamp"])
            beam.append(bool(beamtag.tag_beam(np.array([t]), spills)[0]))
            hits = crt_by_ms.get(round(t * 1000))
            tags = crtmatch.find_tags(hits, geo, det, mcfg) if hits is not None else None
            for apa in apas:
                adc = raw.read_apa(int(pos), apa)
                above = crtmatch.above_threshold(adc, det, mcfg)
                activity.setdefault(apa, []).append(float(np.count_nonzero(above)) / 1000.0)
                if tags is None:
                    continue
                for tag in tags[tags["apa"] == apa]:
                    ok, t_us, z_mm = crtmatch.match_tag(adc, tag, det, mcfg, above)
                    found.append(ok)
                    dt.append(t_us)
                    dz.append(z_mm)
    return {
        "attrs": attrs,
        "beam": beam,
        "activity": activity,
        "compare": beamtag.compare_activity(activity, beam),
        "crt": crtmatch.summarize(found, dt, dz),
        "dt": dt,
        "dz": dz,
        "found": found,
        "n_spills": int(spills.shape[0]),
        "crt_records": len(crt_by_ms),
    }


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result: Result):
        path = common.data_file(job, args)
        out = common.output_dir(job, args)
        try:
            matched = json.loads(args.matched)
            missing = json.loads(args.match_missing)
        except ValueError as exc:
            from payloads.errors import InputError

            raise InputError(f"--matched/--match-missing are not JSON: {exc}") from None
        bi = [url_to_path(u) for u in matched.get("bi", [])]
        crt = [url_to_path(u) for u in matched.get("crt", [])]
        a = analyse(path, bi, crt, common.event_fraction(job, args), args.threshold)
        labels = common.labels_of(job, a["attrs"])
        for stream in ("bi", "crt"):
            result.add_metric(
                "streams_missing", 1 if stream in missing else 0, **labels, matched=stream
            )
        result.add_metric("streams_beam_on_events", sum(a["beam"]), **labels)
        result.add_metric("streams_beam_off_events", len(a["beam"]) - sum(a["beam"]), **labels)
        for apa, c in a["compare"].items():
            lab = dict(labels, apa=apa)
            result.add_metric("tpc_activity_beam_on", c["on"], **lab)
            result.add_metric("tpc_activity_beam_off", c["off"], **lab)
            result.add_metric("tpc_activity_on_off_ratio", c["ratio"], **lab)
        s = a["crt"]
        if crt:
            result.add_metric("crt_tpc_tags", s["tags"], **labels)
            result.add_metric("crt_tpc_match_fraction", s["fraction"], **labels)
            result.add_metric("crt_tpc_time_residual_mean_us", s["dt_mean_us"], **labels)
            result.add_metric("crt_tpc_time_residual_rms_us", s["dt_rms_us"], **labels)
            result.add_metric("crt_tpc_position_residual_rms_mm", s["dz_rms_mm"], **labels)
        if args.no_plots:
            return
        stem = common.output_name(job, "streams", path, "")
        apas = sorted(a["compare"])
        if apas:
            f = plots.plot_series(
                np.array(apas, dtype=float),
                {
                    "beam on": np.array([a["compare"][k]["on"] for k in apas]),
                    "beam off": np.array([a["compare"][k]["off"] for k in apas]),
                },
                "APA",
                "collection samples over threshold [thousands]",
                f"{path.name}: TPC activity, beam on vs off",
                out / f"{stem}-beam-activity.png",
            )
            result.add_product(f, "png", "TPC activity per APA, beam on vs beam off")
        ok = np.asarray(a["found"], dtype=bool)
        if ok.any():
            dt = np.asarray(a["dt"])[ok]
            hist, edges = np.histogram(dt, bins=30)
            f = plots.plot_series(
                0.5 * (edges[1:] + edges[:-1]),
                {"matched muons": hist},
                "TPC - CRT time [us]",
                "muons",
                f"{path.name}: CRT-TPC match {100 * s['fraction']:.0f} % of {s['tags']} tags",
                out / f"{stem}-crt-residuals.png",
                kind="step",
            )
            result.add_product(f, "png", "CRT-TPC time residuals")

    return common.run_stage("dqm-streams", parser, argv, body)


if __name__ == "__main__":
    sys.exit(main())

"""``p3s-daqsim``: write synthetic raw files and (optionally) announce them as the DAQ does.

Examples::

    p3s-daqsim --out var/raw --files 3 --events 2 --apas 1 --seed 7
    p3s-daqsim --out var/raw --files 1 --stream bi --announce --server http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from tqdm import tqdm

from payloads.daqsim import history as hist
from payloads.daqsim import writer
from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import SimConfig

DEFAULT_SERVER = "http://127.0.0.1:8000"


class AnnounceError(Exception):
    """The server refused an announcement or could not be reached."""


def _slopes(text: str) -> tuple[float, ...]:
    """``"0.3,1,12"`` -> (0.3, 1.0, 12.0); positive numbers only."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"slopes must be positive ticks per wire: {text!r}")
    return values


class _DefaultsShown(argparse.HelpFormatter):
    """Show each option's real default, unless its help already says it; mark required."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required:
            return "REQUIRED: " + text
        if "default" not in text and action.default not in (None, False, argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="p3s-daqsim",
        description=__doc__.splitlines()[0].replace("``", ""),  # no RST markup in --help
        formatter_class=_DefaultsShown,
    )
    p.add_argument("--out", required=True, type=Path, help="folder for the files (created)")
    p.add_argument("--files", type=int, default=1, help="number of files")
    p.add_argument(
        "--events",
        type=int,
        default=None,
        help="records per file (default: 2 for tpc, 100 for bi and crt)",
    )
    p.add_argument("--apas", type=int, default=1, help="APAs per TPC record (1-6)")
    p.add_argument(
        "--seed",
        type=int,
        default=1,
        help="random seed: one detector per seed (its pedestals, bad channels, pickup: the same in every run); seed, run and file together fix the events",
    )
    p.add_argument("--stream", choices=("tpc", "bi", "crt"), default="tpc", help="data stream")
    p.add_argument("--run", type=int, default=1, help="run number")
    p.add_argument("--first-subrun", type=int, default=1, help="subrun of the first file")
    p.add_argument(
        "--tracks", type=float, default=None, help="mean cosmic tracks per APA-event (default 8)"
    )
    p.add_argument(
        "--track-slopes",
        type=_slopes,
        default=None,
        help="comma-separated drift angles in ticks per collection wire (e.g. 0.3,1,3,6,12): "
        "one straight track per value instead of cosmics, with per-wire charge truth",
    )
    p.add_argument(
        "--start",
        default=None,
        help="ISO 8601 time of the first record (default: so that the last file ends now, "
        "UTC: data are never stamped in the future)",
    )
    p.add_argument(
        "--announce", action="store_true", help="POST each file to $P3S_SERVER/api/v1/files/"
    )
    p.add_argument(
        "--server", default=None, help=f"server URL (env P3S_SERVER, default {DEFAULT_SERVER})"
    )
    p.add_argument("--token", default=None, help="API token (env P3S_TOKEN)")
    p.add_argument(
        "--url-base",
        default=None,
        help="announce each file as URL-BASE/<its path under --out> (e.g. root://host:port//raw) "
        "instead of its file:// URL: the files are served from there",
    )
    p.add_argument(
        "--token-file", default=None, help="file holding the API token (env P3S_TOKEN_FILE)"
    )
    p.add_argument(
        "--daq-faults",
        type=float,
        default=0.0,
        help="probability per TPC record that one FEMB drops out (flagged, zeroed, in the truth)",
    )
    p.add_argument(
        "--faults",
        default=None,
        help="TPC board/channel faults as JSON (payloads/daqsim/faults.py FaultConfig fields), "
        'e.g. \'{"asic_shifts": [[5, 2, "x", 1400]], "dead_fembs": [12]}\'',
    )
    p.add_argument(
        "--history",
        action="store_true",
        help="one clock: take the content from the shared beam and cosmic history "
        "(payloads/daqsim/history.py) so that tpc, bi and crt files written for the same times "
        "match; bi files are then one per SPS supercycle",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.files < 1:
        p.error("--files must be at least 1")
    if args.events is not None and args.events < 1:
        p.error("--events must be at least 1")
    if not 1 <= args.apas <= 6:
        p.error("--apas must be between 1 and 6")
    return args


def resolve_token(args: argparse.Namespace) -> str:
    """The API token from --token, --token-file, $P3S_TOKEN or $P3S_TOKEN_FILE."""
    if args.token:
        return args.token
    path = args.token_file or None
    if not path and os.environ.get("P3S_TOKEN"):
        return os.environ["P3S_TOKEN"].strip()
    path = path or os.environ.get("P3S_TOKEN_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AnnounceError(f"cannot read the token file {path}: {exc.strerror}") from exc
    raise AnnounceError(
        "--announce needs a token: --token, --token-file, P3S_TOKEN or P3S_TOKEN_FILE"
    )


def announce(
    info: writer.FileInfo,
    server: str,
    token: str,
    session: requests.Session | None = None,
    file_url: str | None = None,
) -> int:
    """POST a file's announcement; returns the status (201 new, 200 known), raises on errors.

    ``file_url`` replaces the file's ``file://`` URL (a file served by XRootD or HTTP)."""
    url = server.rstrip("/") + "/api/v1/files/"
    http = session or requests.Session()
    body = info.announcement()
    if file_url:
        body["url"] = file_url
    try:
        resp = http.post(url, json=body, headers={"Authorization": f"Token {token}"}, timeout=30)
    except requests.RequestException as exc:
        raise AnnounceError(f"cannot reach {url}: {exc}") from exc
    if resp.status_code in (200, 201):
        return resp.status_code
    try:
        body = resp.json()
        message = (
            body.get("detail") or body.get("message") or body if isinstance(body, dict) else body
        )
    except ValueError:
        message = resp.text[:500]
    raise AnnounceError(f"{url} refused {info.path.name}: HTTP {resp.status_code}: {message}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    start = (
        datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        if args.start
        else datetime.now(UTC) - timedelta(seconds=args.files * writer.SUBRUN_SECONDS)
    )
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    events = args.events or (2 if args.stream == "tpc" else 100)
    server = args.server or os.environ.get("P3S_SERVER") or DEFAULT_SERVER
    try:
        token = resolve_token(args) if args.announce else ""
    except AnnounceError as exc:
        print(f"p3s-daqsim: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = SimConfig() if args.tracks is None else SimConfig(tracks_per_apa=args.tracks)
    if args.track_slopes:
        cfg = replace(cfg, track_slopes=args.track_slopes)
    if args.faults:
        try:
            cfg = replace(cfg, faults=FaultConfig.from_dict(json.loads(args.faults)))
        except (ValueError, TypeError, AttributeError) as exc:
            print(f"p3s-daqsim: --faults: {exc}", file=sys.stderr)
            return 2
    history = hist.HistoryConfig(seed=args.seed, run=args.run, sim=cfg) if args.history else None
    if history is not None:  # records on the shared trigger grid
        grid = history.trigger_spacing_s
        start = datetime.fromtimestamp(round(start.timestamp() / grid) * grid, UTC)
    units = events * (args.apas if args.stream == "tpc" else 1) * args.files
    session = requests.Session() if args.announce else None
    with tqdm(
        total=units,
        desc=f"daqsim {args.stream}",
        unit="rec",
        disable=args.quiet or None,
        file=sys.stderr,
    ) as bar:
        for k in range(args.files):
            subrun = args.first_subrun + k
            t0 = start + timedelta(seconds=k * writer.SUBRUN_SECONDS)
            if history is not None and args.stream == "bi":  # one file per SPS supercycle
                c0 = hist.cycle_start(history, start.timestamp()) + k * history.cycle_s
                t0 = datetime.fromtimestamp(c0, UTC)
            common = dict(
                seed=args.seed, run=args.run, subrun=subrun, n_events=events, start=t0, progress=bar
            )
            if args.stream == "tpc":
                info = writer.write_tpc_file(
                    args.out,
                    apas=list(range(args.apas)),
                    cfg=cfg,
                    daq_fault_rate=args.daq_faults,
                    history=history,
                    **common,
                )
            elif args.stream == "bi":
                info = writer.write_bi_file(args.out, history=history, **common)
            else:
                info = writer.write_crt_file(args.out, history=history, **common)
            line = f"{info.path} {info.events} events {info.size} bytes {info.checksum}"
            if args.announce:
                try:
                    file_url = None
                    if args.url_base:
                        rel = info.path.resolve().relative_to(args.out.resolve()).as_posix()
                        file_url = f"{args.url_base.rstrip('/')}/{rel}"
                    status = announce(info, server, token, session, file_url)
                except AnnounceError as exc:
                    print(f"p3s-daqsim: {exc}", file=sys.stderr)
                    return 1
                line += " announced (new)" if status == 201 else " announced (already known)"
            tqdm.write(line, file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

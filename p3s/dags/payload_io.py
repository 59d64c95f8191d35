"""What each payload consumes and produces: the one place the DAG validation reads.

The pilot runs the payloads registered under the ``p3s.payloads`` entry-point group
(pyproject.toml); :data:`DECLARED` says, for each of them, which kinds of data it reads from
its parents and which it writes. A stage's inputs must come from its *direct* parents: the
pilot hands a job its parents' output URLs only (``job.parents``, see
``payloads.stages.common.find_parent_output``). The raw file of the DAG run is every job's
first input, so ``raw`` is always there; a payload may name the streams it can read.

A payload installed but not declared here gets no data checks (a test lists those, so that a
new payload is declared when it is registered).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points

#: Kinds of data, with the name people see. The HDF5 kinds are the ``kind`` attribute the
#: payloads write (payloads/stages/*.py ``KIND``).
RAW = "raw"
ADCFFT = "p3s-adcfft/1"
SIG = "p3s-sig/1"
RECO = "p3s-reco/1"
KINDS = {
    RAW: "raw data file",
    ADCFFT: "ADC+FFT summary",
    SIG: "SIG output",
    RECO: "RECO output",
}


@dataclass(frozen=True)
class PayloadIO:
    """``needs``: kinds a parent must provide; ``uses``: kinds read when a parent provides
    them (optional); ``produces``: kinds of the outputs; ``streams``: the raw streams the
    payload can read (empty: any)."""

    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()
    summary: str = ""


DECLARED: dict[str, PayloadIO] = {
    "diag": PayloadIO(summary="diagnostic: sleeps, writes a file of a given size"),
    "dqm-daq": PayloadIO(summary="metadata and completeness of the raw file"),
    "dqm-adcfft": PayloadIO(
        produces=(ADCFFT,), streams=("tpc",), summary="ADC statistics, boards, lines, spectra"
    ),
    "dqm-sig": PayloadIO(
        uses=(ADCFFT,),
        produces=(SIG,),
        streams=("tpc",),
        summary="noise filtering, deconvolution, ROIs (uses an ADC+FFT parent when there is one)",
    ),
    "dqm-reco": PayloadIO(needs=(SIG,), produces=(RECO,), summary="hits, clusters, tracks"),
    "dqm-vis": PayloadIO(
        needs=(SIG,), uses=(RECO,), summary="summary displays after SIG (and RECO)"
    ),
    "dqm-bi": PayloadIO(streams=("bi",), summary="beam instrumentation"),
    "dqm-crt": PayloadIO(streams=("crt",), summary="cosmic-ray tagger"),
    # Its other inputs are the matched BI and CRT files (p3s.dags.matching), not parents.
    "dqm-streams": PayloadIO(
        streams=("tpc",), summary="TPC matched with BI and CRT: beam-on/off, CRT-TPC match"
    ),
}


def known_payloads() -> set[str]:
    """Payload names the installed registry offers (the pilot runs only these)."""
    return {ep.name for ep in entry_points(group="p3s.payloads")}


def kind_name(kind: str) -> str:
    return f"{KINDS.get(kind, kind)} ({kind})" if kind != RAW else KINDS[RAW]


def check_data(
    graph: dict[str, dict], stream: str, declared: dict[str, PayloadIO] | None = None
) -> list[str]:
    """Why stages would not get the data they need, one reason per problem (empty: fine)."""
    declared = DECLARED if declared is None else declared
    problems = []
    for sname, node in graph.items():
        io = declared.get(node["payload"])
        if io is None:
            continue
        if io.streams and stream not in io.streams:
            problems.append(
                f"stage {sname!r} ({node['payload']}) reads raw files of the stream "
                f"{' or '.join(io.streams)}, but the template is triggered by the stream {stream!r}"
            )
        provided: dict[str, list[str]] = {}
        for parent in node["parents"]:
            pio = declared.get(graph[parent]["payload"]) if parent in graph else None
            for kind in pio.produces if pio else ():
                provided.setdefault(kind, []).append(parent)
        for kind in io.needs:
            if kind in provided or any(
                declared.get(graph[p]["payload"]) is None for p in node["parents"] if p in graph
            ):
                continue
            offered = (
                "; its parents provide "
                + ", ".join(
                    f"{p}: {_offer(graph[p]['payload'], declared)}" for p in node["parents"]
                )
                if node["parents"]
                else "; it has no parents"
            )
            makers = sorted(n for n, d in declared.items() if kind in d.produces)
            problems.append(
                f"stage {sname!r} ({node['payload']}) needs a {kind_name(kind)} from a parent"
                f"{offered} (a {' or '.join(makers) or '?'} stage makes one)"
            )
    return problems


def _offer(payload: str, declared: dict[str, PayloadIO]) -> str:
    io = declared.get(payload)
    if io is None:
        return f"{payload} (undeclared)"
    return f"{payload} makes " + (", ".join(kind_name(k) for k in io.produces) or "no data output")

"""The result tree with worst-case roll-up: detector -> stream -> APA -> plane -> FEMB.

Built from :class:`~p3s.quality.models.LatestResult` (the latest result per check and element,
upserted on evaluation) in one query, whatever the number of metric rows or results behind
it. A node's flag is the worst of its own results and its children (undefined < good < warning
< bad); a node with no results is undefined. Results land on the deepest node their element
names: ASIC results on their FEMB, APA-wide results on the APA; a board result without a plane
(``adc_femb_missing`` {apa, femb}) lands on that FEMB under every plane, since the board reads
all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from p3s.quality.models import FLAG_RANK, Flag, LatestResult, worst

PLANES = ["u", "v", "x"]
#: APAs of the detector (DETECTOR.md: six APAs in ProtoDUNE-SP).
APAS = list(range(6))


@dataclass
class Node:
    key: str
    label: str
    flag: str = Flag.UNDEFINED
    children: list[Node] = field(default_factory=list)
    results: list[LatestResult] = field(default_factory=list)

    def child(self, key: str, label: str) -> Node:
        for c in self.children:
            if c.key == key:
                return c
        node = Node(key, label)
        self.children.append(node)
        return node

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def all_results(self) -> list[LatestResult]:
        return [r for n in self.walk() for r in n.results]

    def roll_up(self) -> str:
        self.flag = worst([r.flag for r in self.results] + [c.roll_up() for c in self.children])
        return self.flag


def _order(node: Node) -> tuple[int, str]:
    """Numeric order of APAs and FEMBs (apa10 after apa9), planes u, v, x."""
    last = node.key.rsplit("/", 1)[-1]
    digits = last.removeprefix("apa").removeprefix("femb")
    return (int(digits), last) if digits.isdigit() else (10**9, last)


def latest_results(stream: str = "tpc", template: str | None = None) -> list[LatestResult]:
    qs = LatestResult.objects.filter(stream=stream, check_ref__enabled=True).select_related(
        "check_ref"
    )
    if template:
        qs = qs.filter(template=template)
    return list(qs)


def latest_tree(stream: str = "tpc", template: str | None = None) -> Node:
    """The tree of the latest results of a stream (and template), rolled up."""
    root = Node("detector", "detector")
    top = root.child(stream, stream.upper())
    for r in latest_results(stream, template):
        if not r.apa:
            top.results.append(r)
            continue
        apa = top.child(f"{stream}/apa{r.apa}", f"APA {r.apa}")
        planes = [r.plane] if r.plane else (PLANES if r.femb else [])
        if not planes:
            apa.results.append(r)
        for p in planes:
            plane = apa.child(f"{apa.key}/{p}", f"plane {p}")
            if r.femb:
                plane.child(f"{plane.key}/femb{r.femb}", f"FEMB {r.femb}").results.append(r)
            else:
                plane.results.append(r)
    for node in root.walk():
        node.children.sort(key=_order)
    root.roll_up()
    return root


def apa_plane_grid(stream: str = "tpc") -> dict:
    """The dashboard's APA x plane traffic lights from the latest results.

    A cell holds its plane's subtree and the APA's own (plane-less) results: ``flag`` (worst),
    ``failing`` (warning and bad results, worst first: LatestResult rows, which carry the
    CheckResult fields and ``result``), ``data_ts`` and ``run`` of the newest result in it.
    """
    tree = latest_tree(stream)
    top = tree.children[0]
    by_apa = {n.key.rsplit("apa", 1)[-1]: n for n in top.children}
    apas = sorted(set(APAS) | {int(a) for a in by_apa if a.isdigit()})
    cells: dict[tuple[int, str], dict] = {}
    for a in apas:
        apa = by_apa.get(str(a))
        for p in PLANES:
            results = list(apa.results) if apa else []
            if apa:
                for plane in apa.children:
                    if plane.key.endswith(f"/{p}"):
                        results += plane.all_results()
            cells[(a, p)] = _cell(results)
    return {"apas": apas, "planes": list(PLANES), "cells": cells}


def _cell(results: list[LatestResult]) -> dict:
    failing = sorted(
        (r for r in results if r.flag in (Flag.WARNING, Flag.BAD)),
        key=lambda r: (-FLAG_RANK[Flag(r.flag)], r.check_ref.name, r.element_key),
    )
    newest = max(results, key=lambda r: r.data_ts, default=None)
    data_ts: datetime | None = newest.data_ts if newest else None
    return {
        "flag": worst(r.flag for r in results),
        "failing": failing,
        "data_ts": data_ts,
        "run": newest.run if newest else None,
    }

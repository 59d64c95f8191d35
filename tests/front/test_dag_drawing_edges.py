"""The DAG drawing never hides an edge behind a box (issue 14: sig->vis went behind reco).

Geometric: every edge path is sampled densely and no sample may fall inside any stage's box.
"""

import re
from pathlib import Path

import pytest

from p3s.dags import spec
from p3s.front import dagsvg

DEFAULTS = Path(spec.__file__).parent / "defaults"


def boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for stage, x, y, w, h in re.findall(
        r'data-stage="([^"]+)"><title>.*?</title><rect x="([\d.]+)" y="([\d.]+)" '
        r'width="([\d.]+)" height="([\d.]+)"',
        svg,
    ):
        out[stage] = (float(x), float(y), float(x) + float(w), float(y) + float(h))
    return out


def samples(d: str, n: int = 200):
    """Points along a path made of M, C and L commands."""
    tokens = re.findall(r"[MCL]|-?[\d.]+", d.replace(",", " "))
    pts, cur, i = [], None, 0
    while i < len(tokens):
        cmd = tokens[i]
        if cmd == "M":
            cur = (float(tokens[i + 1]), float(tokens[i + 2]))
            i += 3
        elif cmd == "L":
            end = (float(tokens[i + 1]), float(tokens[i + 2]))
            pts += [
                (cur[0] + (end[0] - cur[0]) * t / n, cur[1] + (end[1] - cur[1]) * t / n)
                for t in range(n + 1)
            ]
            cur, i = end, i + 3
        elif cmd == "C":
            c1, c2, end = ((float(tokens[i + k]), float(tokens[i + k + 1])) for k in (1, 3, 5))
            for k in range(n + 1):
                t = k / n
                a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
                pts.append(
                    (
                        a * cur[0] + b * c1[0] + c * c2[0] + e * end[0],
                        a * cur[1] + b * c1[1] + c * c2[1] + e * end[1],
                    )
                )
            cur, i = end, i + 7
        else:
            raise AssertionError(f"unexpected path command {cmd!r}")
    return pts


def hidden_edges(order, stages):
    svg = dagsvg.dag_svg(order, stages)
    rects = boxes(svg)
    assert set(rects) == set(order)
    bad = []
    paths = re.findall(r'data-from="([^"]+)" data-to="([^"]+)" d="([^"]+)"', svg)
    assert len(paths) == sum(len(stages[s].get("parents", [])) for s in order)
    for src, dst, d in paths:
        for x, y in samples(d):
            for stage, (x0, y0, x1, y1) in rects.items():
                if x0 + 0.5 < x < x1 - 0.5 and y0 + 0.5 < y < y1 - 0.5:
                    bad.append((src, dst, stage))
                    break
    return sorted(set(bad))


def test_the_sampler_does_see_an_edge_behind_a_box():
    """The check can fail: a straight line through a box is caught."""
    rects = {"r": (10.0, 10.0, 50.0, 50.0)}
    pts = samples("M 0 30 L 100 30")
    assert any(x0 < x < x1 and y0 < y < y1 for x, y in pts for x0, y0, x1, y1 in rects.values())


@pytest.mark.parametrize("name", ["tpc-dqm", "diag", "bi-dqm"])
def test_no_edge_of_a_shipped_template_goes_behind_a_box(name):
    dag = spec.load((DEFAULTS / f"{name}.yaml").read_text())
    assert hidden_edges(dag.order, dag.graph) == []


def test_long_and_crossing_edges_of_a_wide_graph_stay_clear():
    stages = {
        "a": {"parents": []},
        "b": {"parents": ["a"]},
        "c": {"parents": ["a"]},
        "d": {"parents": ["b"]},
        "e": {"parents": ["d"]},
        "f": {"parents": ["a", "c", "e"]},
        "g": {"parents": ["a", "f"]},
    }
    assert hidden_edges(list(stages), stages) == []


def test_the_tpc_sig_to_vis_edge_routes_around_reco():
    dag = spec.load((DEFAULTS / "tpc-dqm.yaml").read_text())
    svg = dagsvg.dag_svg(dag.order, dag.graph)
    (d,) = re.findall(r'data-from="sig" data-to="vis" d="([^"]+)"', svg)
    assert " L " in d  # passes through a slot of its own in reco's column

"""The gallery grid: products of one run placed by APA (rows) and plot type (columns).

A product's plot type is ``kind/stage/family`` (:func:`column_of`); a layout column may name
the stage ``*`` to take that family from any stage. The built-in layout ``all`` has a column
for every plot type the run has (what experts look at); saved layouts
(:class:`p3s.front.models.GalleryLayout`) pick and order a few; a built-in ``shifter``
layout serves operators until an expert saves one of that name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from p3s.dqm.models import Product
from p3s.front.models import Audience, GalleryLayout

ALL = "all"
SHIFTER = "shifter"
SHIFTER_COLUMNS = (
    "png/*/noise RMS per plane",
    "png/*/pedestals per plane",
    "png/*/board map (RMS)",
    "png/*/filtered noise per plane",
)
#: "APA 3", "APA3", "apa 12": the APA a title names, taken out of its family.
APA_IN_TITLE = re.compile(r"\bAPA\s*(\d+)\b", re.IGNORECASE)
#: The products of a run the grid looks at (latest first); a run has a few hundred.
MAX_PRODUCTS = 3000
DETECTOR_ROW = ""  # products of no single APA


def family_of(title: str) -> str:
    """The title with its APA number taken out, tidied: the plot type within a kind and stage."""
    family = APA_IN_TITLE.sub(" ", title)
    family = re.sub(r"\s+", " ", family).strip(" :,-\u2014")
    return family or title.strip()


def apa_of(product: Product) -> str:
    apa = (product.labels or {}).get("apa")
    if apa is not None and str(apa).isdigit():
        return str(apa)
    m = APA_IN_TITLE.search(product.title)
    return m.group(1) if m else DETECTOR_ROW


def column_of(product: Product) -> str:
    return f"{product.kind}/{product.job.stage}/{family_of(product.title)}"


def matches(column: str, key: str) -> bool:
    """Does a product's plot type ``key`` fill the layout ``column`` (stage ``*`` = any)?"""
    if column == key:
        return True
    kind, stage, family = column.split("/", 2)
    k_kind, _, k_family = key.split("/", 2)
    return stage == "*" and kind == k_kind and family == k_family


@dataclass
class Grid:
    layout: str
    columns: list[str]
    rows: list[str]
    cells: dict[tuple[str, str], Product] = field(default_factory=dict)
    available: list[str] = field(default_factory=list)  # every plot type of the run
    missing: list[str] = field(default_factory=list)  # layout columns the run has none of

    def table(self) -> list[tuple[str, list[Product | None]]]:
        return [(row, [self.cells.get((row, c)) for c in self.columns]) for row in self.rows]

    @property
    def products(self) -> list[Product]:
        return list(self.cells.values())

    @property
    def headers(self) -> list[tuple[str, str, str, str]]:
        """(column, kind, stage, family) of each column, left to right."""
        return [(c, *c.split("/", 2)) for c in self.columns]  # type: ignore[misc]

    @property
    def choices(self) -> list[tuple[str, bool, bool]]:
        """(column, in this layout, in this run): the layout's columns first, in its order."""
        present = set(self.available)
        shown = [(c, True, c in present) for c in self.columns]
        return shown + [(c, False, True) for c in self.available if c not in self.columns]


def _apa_order(apa: str) -> tuple:
    return (1, 0) if apa == DETECTOR_ROW else (0, int(apa))


def column_order(key: str) -> tuple:
    kind, stage, family = key.split("/", 2)
    return (family.lower(), kind, stage)


def grid(run: int, layout: GalleryLayout | None) -> Grid:
    """The grid of ``run`` in ``layout`` (None: the built-in ``all``); latest product per cell."""
    qs = (
        Product.objects.filter(run=run)
        .select_related("job")
        .only("id", "run", "kind", "title", "labels", "size", "data_ts", "created", "job__stage")
        .order_by("-data_ts", "-id")[:MAX_PRODUCTS]
    )
    latest: dict[tuple[str, str], Product] = {}
    for p in qs:
        latest.setdefault((apa_of(p), column_of(p)), p)
    available = sorted({key for _, key in latest}, key=column_order)
    if layout is None:
        columns = available
        rows = sorted({apa for apa, _ in latest}, key=_apa_order)
    else:
        columns = list(layout.columns)
        present = {apa for apa, _ in latest}
        rows = list(layout.apas) or sorted(present, key=_apa_order)
    g = Grid(layout.name if layout else ALL, columns, rows, available=available)
    for (apa, key), product in latest.items():
        if apa not in rows:
            continue
        for col in columns:
            if matches(col, key) and (apa, col) not in g.cells:
                g.cells[(apa, col)] = product
    g.missing = [c for c in columns if not any(col == c for _, col in g.cells)]
    return g


def builtin_shifter() -> GalleryLayout:
    """The shifter layout until an expert saves one named ``shifter``: the key plots per APA,
    as the payloads title them (payloads/stages/adcfft_products.py: noise RMS, pedestals, the
    board map; payloads/stages/vis.py: filtered noise), from any stage."""
    return GalleryLayout(
        name=SHIFTER,
        audience=Audience.SHIFTER,
        description="Key plots per APA: noise, pedestals, the board map, filtered noise.",
        columns=list(SHIFTER_COLUMNS),
        updated_by="built in",
    )


def available_layouts() -> dict[str, GalleryLayout]:
    """The layouts to pick from, by name: the built-in shifter one, then the saved ones (a saved
    ``shifter`` replaces the built-in one). ``all`` is not listed: it is computed per run."""
    found = {SHIFTER: builtin_shifter()}
    found.update({lay.name: lay for lay in GalleryLayout.objects.all()})
    return found


def default_layout(is_expert: bool) -> str:
    """Experts see every plot type; operators the shifter layout."""
    return ALL if is_expert else SHIFTER

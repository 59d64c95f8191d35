"""Gallery worlds and the bytes a gallery view transfers, for the gallery browser tests."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from p3s.dqm.services import store_product

from .conftest import bokeh_bytes, png_bytes

#: Plot types as the payloads title them (payloads/stages/adcfft_products.py).
PNG_TITLES = ("noise RMS per plane", "pedestals per plane", "board map (RMS)")


def add_bokeh_products(world, n: int) -> list:
    """``n`` more bokeh products on the world's first vis job (APA 1..n)."""
    vis = next(j for j in world.jobs if j.stage == "vis")
    made = []
    for apa in range(1, n + 1):
        upload = SimpleUploadedFile("x.json", bokeh_bytes(), "application/json")
        made.append(
            store_product(
                vis, upload, "bokeh", f"APA {apa} RMS per channel (interactive)", {"apa": str(apa)}
            )
        )
    return made


def add_apa_products(world, apas=(1, 2, 3, 4)) -> list:
    """PNG products of each APA with the payloads' titles, on the world's first vis job."""
    vis = next(j for j in world.jobs if j.stage == "vis")
    made = []
    for apa in apas:
        for title in PNG_TITLES:
            full = f"APA {apa} {title}"
            upload = SimpleUploadedFile("x.png", png_bytes(full), "image/png")
            made.append(store_product(vis, upload, "png", full, {"apa": str(apa)}))
    return made


class Traffic:
    """Every request the page and its frames (sandboxed ones too) finish, with its size."""

    def __init__(self, page):
        self.rows: list[tuple[str, int]] = []
        page.on("requestfinished", self._done)

    def _done(self, request) -> None:
        sizes = request.sizes()
        self.rows.append((request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"]))

    def clear(self) -> None:
        self.rows.clear()

    @property
    def total(self) -> int:
        return sum(n for _, n in self.rows)

    def fetches(self, part: str) -> int:
        return sum(1 for url, _ in self.rows if part in url)

    def bytes_of(self, part: str) -> int:
        return sum(n for url, n in self.rows if part in url)

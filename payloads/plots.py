"""Visual products: matplotlib PNGs (Agg) and bokeh ``json_item`` documents.

Functions here draw; they never compute DQM quantities. Each returns the path it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from bokeh.embed import json_item  # noqa: E402
from bokeh.models import ColumnDataSource, HoverTool, Range1d  # noqa: E402
from bokeh.plotting import figure  # noqa: E402

PLANE_NAMES = ("U", "V", "X")


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def save_bokeh(model: Any, path: Path, target: str = "p3s-plot") -> Path:
    """Write a bokeh model as the JSON of ``bokeh.embed.json_item``."""
    doc = json_item(model, target)  # type: ignore[arg-type]
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def plot_histograms_with_bands(
    values: dict[str, np.ndarray],
    bands: dict[str, tuple[float, float]],
    xlabel: str,
    title: str,
    path: Path,
    bins: int = 60,
) -> Path:
    """One histogram per plane with a shaded reference band (expected range)."""
    fig, axes = plt.subplots(1, len(values), figsize=(4 * len(values), 3.2))
    for ax, (name, vals) in zip(np.atleast_1d(axes), values.items(), strict=True):
        vals = vals[np.isfinite(vals)]
        lo, hi = bands.get(name, (np.nan, np.nan))
        if np.isfinite(lo):
            ax.axvspan(lo, hi, color="tab:green", alpha=0.2, label="reference")
        ax.hist(vals, bins=bins, histtype="stepfilled", alpha=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(f"plane {name.upper()}")
        out = np.count_nonzero((vals < lo) | (vals > hi)) if np.isfinite(lo) else 0
        ax.text(
            0.98, 0.95, f"{out} outside", transform=ax.transAxes, ha="right", va="top", fontsize=8
        )
    fig.suptitle(title)
    return _save(fig, path)


def plot_board_map(values: np.ndarray, title: str, cbar: str, path: Path) -> Path:
    """FEMB x plane map ``(n_fembs, 3)`` (e.g. mean RMS per board and plane)."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    im = ax.imshow(values.T, aspect="auto", origin="lower", cmap="viridis")
    ax.set_yticks(range(values.shape[1]), PLANE_NAMES[: values.shape[1]])
    ax.set_xlabel("FEMB")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar)
    return _save(fig, path)


def plot_map(
    values: np.ndarray, xlabel: str, ylabel: str, title: str, cbar: str, path: Path
) -> Path:
    """A generic 2-D map, ``values[x, y]``."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    im = ax.imshow(values.T, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar)
    return _save(fig, path)


def plot_spectra(
    freqs: np.ndarray, spectra: np.ndarray, lines: list[list[dict]], title: str, path: Path
) -> Path:
    """Mean spectrum per plane with the found lines marked."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for p, spec in enumerate(spectra):
        ax.semilogy(freqs[1:] / 1e3, spec[1:], lw=0.7, label=f"plane {PLANE_NAMES[p]}")
        for ln in lines[p] if p < len(lines) else []:
            ax.axvline(ln["freq_hz"] / 1e3, color=f"C{p}", ls=":", lw=0.8)
    ax.set_xlabel("frequency [kHz]")
    ax.set_ylabel("power [ADC$^2$ per bin]")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_spectrogram(coarse: np.ndarray, max_khz: float, title: str, path: Path) -> Path:
    """Channel x frequency map of per-channel spectra (log scale)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    im = ax.imshow(
        np.log10(np.maximum(coarse, 1e-8)).T,
        aspect="auto",
        origin="lower",
        extent=(0, coarse.shape[0], 0, max_khz),
        cmap="magma",
    )
    ax.set_xlabel("offline channel")
    ax.set_ylabel("frequency [kHz]")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="log10 power")
    return _save(fig, path)


def plot_event_display(
    panels: dict[str, np.ndarray],
    title: str,
    path: Path,
    hits: np.ndarray | None = None,
    max_ticks: int | None = None,
) -> Path:
    """Channel x tick images, one panel per entry (e.g. raw, filtered, deconvolved)."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3 * len(panels)), squeeze=False)
    for ax, (name, img) in zip(axes[:, 0], panels.items(), strict=True):
        data = _pool_ticks(img[:, :max_ticks] if max_ticks else img, 4)
        lim = np.percentile(np.abs(data), 99.5) or 1.0
        ax.imshow(
            data.T,
            aspect="auto",
            origin="lower",
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
            interpolation="nearest",
            extent=(0, img.shape[0], 0, img.shape[1]),
        )
        ax.set_ylabel("tick")
        ax.set_title(name, fontsize=9)
        if hits is not None and name.startswith("deconvolved") and hits.size:
            ax.plot(hits["channel"], hits["peak_tick"], ",", color="k")
    axes[-1, 0].set_xlabel("channel")
    fig.suptitle(title)
    return _save(fig, path)


def _pool_ticks(img: np.ndarray, factor: int) -> np.ndarray:
    """Down-sample ticks for display, keeping the sample of largest magnitude in each block."""
    n = img.shape[1] // factor * factor
    blocks = img[:, :n].reshape(img.shape[0], -1, factor)
    pick = np.abs(blocks).argmax(axis=2)
    return np.take_along_axis(blocks, pick[..., None], axis=2)[..., 0]


def bokeh_channel_values(
    channels: np.ndarray, series: dict[str, np.ndarray], title: str, ylabel: str
) -> object:
    """Interactive per-channel plot (hover shows channel and value)."""
    fig = figure(
        title=title,
        height=320,
        sizing_mode="stretch_width",
        x_axis_label="channel",
        y_axis_label=ylabel,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    for k, (name, vals) in enumerate(series.items()):
        src = ColumnDataSource({"channel": channels, "value": vals.astype(float)})
        fig.scatter(
            "channel",
            "value",
            source=src,
            size=3,
            legend_label=name,
            color=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"][k % 4],
        )
    fig.add_tools(HoverTool(tooltips=[("channel", "@channel"), ("value", "@value{0.00}")]))
    return fig


def bokeh_image(
    img: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
    dw: float | None = None,
    dh: float | None = None,
) -> object:
    """Interactive image (e.g. channel x tick), down-sampled by the caller if large."""
    w = dw or img.shape[0]
    h = dh or img.shape[1]
    fig = figure(
        title=title,
        height=380,
        sizing_mode="stretch_width",
        x_axis_label=xlabel,
        y_axis_label=ylabel,
        tools="pan,wheel_zoom,box_zoom,reset,save",
        x_range=Range1d(start=0, end=w),
        y_range=Range1d(start=0, end=h),
    )
    fig.image(
        image=[np.ascontiguousarray(img.T.astype(np.float32))],
        x=0,
        y=0,
        dw=w,
        dh=h,
        palette="Viridis256",
    )
    return fig


def bokeh_scatter(x: np.ndarray, y: np.ndarray, title: str, xlabel: str, ylabel: str) -> object:
    """Interactive scatter (e.g. hits in wire x tick)."""
    fig = figure(
        title=title,
        height=380,
        sizing_mode="stretch_width",
        x_axis_label=xlabel,
        y_axis_label=ylabel,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    fig.scatter(np.asarray(x, float), np.asarray(y, float), size=2)
    return fig


def plot_series(
    x: np.ndarray,
    ys: dict[str, np.ndarray],
    xlabel: str,
    ylabel: str,
    title: str,
    path: Path,
    kind: str = "line",
) -> Path:
    """Simple line or step plot (event sizes, beam profiles, CRT occupancy...)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, y in ys.items():
        if kind == "step":
            ax.step(x, y, where="mid", label=name)
        else:
            ax.plot(x, y, ".-", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(ys) > 1:
        ax.legend(fontsize=8)
    return _save(fig, path)

"""Visual products: matplotlib PNGs (Agg) and bokeh ``json_item`` documents.

Functions here draw; they never compute DQM quantities. Each returns the path it wrote.
matplotlib and bokeh are imported on first use (a stage run with ``--no-plots`` never pays
their ~1-2 s import).

Colour and axis scales are fixed per quantity (:data:`SCALES`), never auto-scaled per plot, so
that two runs, two APAs or two boards can be compared by eye; values beyond a scale take the end
colour (the colour bar shows the extension). docs/payloads.md lists them with their sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PLANE_NAMES = ("U", "V", "X")

#: Fixed scales (lo, hi, colour map) by quantity. Noise ~4 ADC and pedestals ~2,350/900 ADC
#: (DETECTOR.md); a MIP gives ~190 ADC peak on collection and ~25,000 e per wire (DETECTOR.md),
#: a few thousand electrons per tick after deconvolution.
SCALES: dict[str, tuple[float, float, str]] = {
    "rms_adc": (0.0, 10.0, "viridis"),
    "pedestal_shift_adc": (-500.0, 500.0, "RdBu_r"),
    "dead_fraction": (0.0, 1.0, "magma_r"),
    "line_amplitude_adc": (0.0, 5.0, "viridis"),
    "log10_power": (-5.0, 1.0, "magma"),
    "waveform_adc": (-60.0, 60.0, "RdBu_r"),
    "deconvolved_electrons": (-6000.0, 6000.0, "RdBu_r"),
}


def _plt():
    """matplotlib.pyplot with the Agg backend (imported once, on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scale_for_panel(name: str) -> str:
    """The fixed scale of an event-display panel from the unit in its title
    (``[electrons/tick]`` or ``[ADC]``)."""
    return "deconvolved_electrons" if "electron" in name else "waveform_adc"


def _integer_axis(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _null_locator():
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _log_counts(ax) -> None:
    """A log y axis of counts labelled at the decades in plain text ("1", "10", "100"), with no
    minor ticks: the default minor ticks and mathtext labels (10^n) were most of a
    histogram's drawing time (several hundred tick artists and a TeX-like parse per label)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_locator(_null_locator())


#: Margins around the axes, in inches: room for tick labels and axis labels on the left and
#: bottom, a title on top (more with a suptitle), a colour bar's labels on the right.
MARGINS = {"left": 0.85, "right": 0.25, "bottom": 0.6, "top": 0.4, "hgap": 0.45, "wgap": 0.75}
DPI = 90


def _save(fig, path: Path, *, right: float | None = None, top: float | None = None) -> Path:
    """Fixed margins (:data:`MARGINS`, inches) instead of ``tight_layout``: the tight layout
    measured every tick label's extent and took most of a stage's plotting time (1 s against
    12 s for the three-plane histograms with log axes, same run, same figure)."""
    w, h = fig.get_size_inches()
    m = MARGINS
    rows, cols = _grid_shape(fig)
    top_in = top if top is not None else m["top"] + (0.3 if fig._suptitle is not None else 0)
    right_in = right if right is not None else m["right"]
    axes_h = (h - m["bottom"] - top_in - (rows - 1) * m["hgap"]) / rows
    axes_w = (w - m["left"] - right_in - (cols - 1) * m["wgap"]) / cols
    fig.subplots_adjust(
        left=m["left"] / w,
        right=1 - right_in / w,
        bottom=m["bottom"] / h,
        top=1 - top_in / h,
        wspace=m["wgap"] / max(axes_w, 0.1),
        hspace=m["hgap"] / max(axes_h, 0.1),
    )
    # zlib level 1, not PIL's 6: a noisy event display (1 MB) took 0.14 s to encode at 6;
    # at 1 it is several times faster and hardly bigger (noise does not compress anyway).
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 1})
    _plt().close(fig)
    return path


def _grid_shape(fig) -> tuple[int, int]:
    """Rows and columns of the figure's subplot grid (1, 1 for a single axes)."""
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is not None:
            return spec.get_topmost_subplotspec().get_gridspec().get_geometry()
    return 1, 1


def save_bokeh(model: Any, path: Path, target: str = "p3s-plot") -> Path:
    """Write a bokeh model as the JSON of ``bokeh.embed.json_item``."""
    from bokeh.embed import json_item

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
    ranges: dict[str, tuple[float, float, int]] | None = None,
) -> Path:
    """One histogram per plane with a shaded reference band (expected range).

    ``ranges`` (plane -> (lo, hi, bins)) fixes the axis; values outside are counted in the end
    bins and said so. Without it the range is the reference band widened three times, still
    the same for every run.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(values), figsize=(4 * len(values), 3.2))
    for ax, (name, vals) in zip(np.atleast_1d(axes), values.items(), strict=True):
        vals = vals[np.isfinite(vals)]
        lo, hi = bands.get(name, (np.nan, np.nan))
        if ranges and name in ranges:
            x0, x1, n = ranges[name]
        elif np.isfinite(lo):
            w = hi - lo
            x0, x1, n = lo - w, hi + w, bins
        else:
            x0, x1, n = float(np.min(vals, initial=0)), float(np.max(vals, initial=1)), bins
        if np.isfinite(lo):
            ax.axvspan(lo, hi, color="tab:green", alpha=0.2, label="reference")
        ax.hist(
            np.clip(vals, x0, x1), bins=np.linspace(x0, x1, n + 1), histtype="stepfilled", alpha=0.8
        )
        ax.set_xlim(x0, x1)
        _log_counts(ax)
        ax.set_xlabel(xlabel)
        ax.set_title(f"plane {name.upper()}")
        out = np.count_nonzero((vals < lo) | (vals > hi)) if np.isfinite(lo) else 0
        clipped = np.count_nonzero((vals < x0) | (vals > x1))
        note = f"{out} outside" + (f", {clipped} in end bins" if clipped else "")
        ax.text(0.98, 0.95, note, transform=ax.transAxes, ha="right", va="top", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_board_map(
    values: np.ndarray, title: str, cbar: str, path: Path, scale: str = "rms_adc"
) -> Path:
    """FEMB x plane map ``(n_fembs, 3)`` (e.g. mean RMS per board and plane) on the fixed
    ``scale`` of :data:`SCALES`, integer FEMB axis, colour bar."""
    plt = _plt()
    lo, hi, cmap = SCALES[scale]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    im = ax.imshow(
        values.T,
        aspect="auto",
        origin="lower",
        cmap=cmap,
        vmin=lo,
        vmax=hi,
        interpolation="nearest",
    )
    ax.set_yticks(range(values.shape[1]), PLANE_NAMES[: values.shape[1]])
    ax.set_xticks(range(values.shape[0]))
    ax.set_xlabel("FEMB")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar, extend="both")
    return _save(fig, path, right=0.4)


def plot_asic_map(
    values: np.ndarray, title: str, cbar: str, path: Path, scale: str = "pedestal_shift_adc"
) -> Path:
    """ASIC map ``(n_fembs, 8, 3)``: one row per plane, FEMB x ASIC along x (FEMB ticks at
    integers, ASICs inside), fixed ``scale``, colour bar."""
    plt = _plt()
    lo, hi, cmap = SCALES[scale]
    nf, na, npl = values.shape
    img = values.transpose(2, 0, 1).reshape(npl, nf * na)
    fig, ax = plt.subplots(figsize=(9, 2.8))
    im = ax.imshow(
        img,
        aspect="auto",
        origin="lower",
        cmap=cmap,
        vmin=lo,
        vmax=hi,
        interpolation="nearest",
        extent=(-0.5, nf - 0.5, -0.5, npl - 0.5),
    )
    ax.set_yticks(range(npl), PLANE_NAMES[:npl])
    ax.set_xticks(range(nf))
    ax.set_xlabel(f"FEMB (each split into its {na} ASICs)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar, extend="both")
    return _save(fig, path, right=0.4)


def plot_map(
    values: np.ndarray,
    xlabel: str,
    ylabel: str,
    title: str,
    cbar: str,
    path: Path,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Path:
    """A generic 2-D map, ``values[x, y]`` (integer axes: modules, strips, boards), with
    ``vmin``/``vmax`` fixed by the caller when the quantity is compared across plots."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    im = ax.imshow(
        values.T,
        aspect="auto",
        origin="lower",
        cmap="viridis",
        interpolation="nearest",
        vmin=vmin,
        vmax=vmax,
    )
    _integer_axis(ax.xaxis)
    _integer_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar)
    return _save(fig, path, right=0.4)


def plot_spectra(
    freqs: np.ndarray, spectra: np.ndarray, lines: list[list[dict]], title: str, path: Path
) -> Path:
    """Mean spectrum per plane with the found lines marked (fixed power axis:
    :data:`SCALES` ``log10_power``)."""
    plt = _plt()
    lo, hi, _ = SCALES["log10_power"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for p, spec in enumerate(spectra):
        ax.semilogy(freqs[1:] / 1e3, spec[1:], lw=0.7, label=f"plane {PLANE_NAMES[p]}")
        for ln in lines[p] if p < len(lines) else []:
            ax.axvline(ln["freq_hz"] / 1e3, color=f"C{p}", ls=":", lw=0.8)
    ax.set_xlabel("frequency [kHz]")
    ax.set_ylabel("power [ADC$^2$ per bin]")
    ax.set_ylim(10**lo, 10**hi)
    ax.yaxis.set_minor_locator(_null_locator())  # decades only (drawing the minor ticks cost)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_spectrogram(coarse: np.ndarray, max_khz: float, title: str, path: Path) -> Path:
    """Channel x frequency map of per-channel spectra (log scale, fixed: :data:`SCALES`
    ``log10_power``)."""
    plt = _plt()
    lo, hi, cmap = SCALES["log10_power"]
    fig, ax = plt.subplots(figsize=(8, 4))
    im = ax.imshow(
        np.log10(np.maximum(coarse, 1e-8)).T,
        aspect="auto",
        origin="lower",
        extent=(0, coarse.shape[0], 0, max_khz),
        cmap=cmap,
        vmin=lo,
        vmax=hi,
    )
    ax.set_xlabel("offline channel")
    ax.set_ylabel("frequency [kHz]")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="log10 power [ADC$^2$ per bin]", extend="both")
    return _save(fig, path, right=0.4)


@dataclass(frozen=True)
class Pooled:
    """A channel x tick image already down-sampled for an event display panel
    (:func:`pool_panels`), with the shape of the image it came from (the axes' extent)."""

    data: np.ndarray
    shape: tuple[int, int]


def pool_panels(panels: dict[str, np.ndarray], max_ticks: int | None = None) -> dict[str, Pooled]:
    """The panels of :func:`plot_event_display`, down-sampled now: a stage that draws later
    (after it released its outputs) keeps a few MB per display, not the full images."""
    return {
        name: Pooled(
            _pool_for_display(img[:, :max_ticks] if max_ticks else img, len(panels)), img.shape
        )
        for name, img in panels.items()
    }


def plot_event_display(
    panels: dict[str, np.ndarray | Pooled],
    title: str,
    path: Path,
    hits: np.ndarray | None = None,
    max_ticks: int | None = None,
    scales: dict[str, str] | None = None,
) -> Path:
    """Channel x tick images, one panel per entry (e.g. raw, filtered, deconvolved), each on the
    fixed scale of its unit (:func:`scale_for_panel`, or ``scales[name]``), with a colour bar.
    A panel may come pooled already (:func:`pool_panels`)."""
    plt = _plt()
    fig, axes = plt.subplots(len(panels), 1, figsize=_display_size(len(panels)), squeeze=False)
    for ax, (name, img) in zip(axes[:, 0], panels.items(), strict=True):
        if isinstance(img, Pooled):
            data, shape = img.data, img.shape
        else:
            data = _pool_for_display(img[:, :max_ticks] if max_ticks else img, len(panels))
            shape = img.shape
        lo, hi, cmap = SCALES[(scales or {}).get(name) or scale_for_panel(name)]
        im = ax.imshow(
            data.T,
            aspect="auto",
            origin="lower",
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            interpolation="nearest",
            extent=(0, shape[0], 0, shape[1]),
        )
        ax.set_ylabel("tick")
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, extend="both", pad=0.01)
        if hits is not None and name.startswith("deconvolved") and hits.size:
            ax.plot(hits["channel"], hits["peak_tick"], ",", color="k")
    axes[-1, 0].set_xlabel("channel")
    fig.suptitle(title)
    return _save(fig, path)


def _display_size(rows: int) -> tuple[float, float]:
    """Inches of an event display of ``rows`` panels."""
    return 9.5, 3.0 * rows


def _pool_for_display(img: np.ndarray, rows: int) -> np.ndarray:
    """Down-sample a channel x tick image to about twice the pixels its panel has, keeping in
    each block the sample of largest magnitude, so that a one-channel or one-tick feature still
    shows (the renderer would otherwise pick one sample in a dozen, and resample millions)."""
    w, h = _display_size(rows)
    px_c = 2 * w * DPI
    px_t = 2 * h * DPI / rows
    fc = max(1, int(np.ceil(img.shape[0] / px_c)))
    ft = max(4, int(np.ceil(img.shape[1] / px_t)))
    return _pool(img, fc, ft)


def _pool(img: np.ndarray, fc: int, ft: int) -> np.ndarray:
    """Blocks of ``fc`` channels x ``ft`` ticks -> the sample of largest magnitude in each
    (a last partial block of channels or ticks is dropped)."""
    nc = img.shape[0] // fc * fc
    nt = img.shape[1] // ft * ft
    view = img[:nc, :nt]
    # The largest and the smallest of each block, one strided pass per offset in the block,
    # then the one of larger magnitude: numpy's reductions over a short axis (a dozen ticks)
    # and an argmax over copied blocks were 2-4x slower (40 ms a panel, nine panels a SIG job).
    hi = view[::fc, ::ft].copy()
    lo = hi.copy()
    for a in range(fc):
        for b in range(ft):
            if a or b:
                part = view[a::fc, b::ft]
                np.maximum(hi, part, out=hi)
                np.minimum(lo, part, out=lo)
    return np.where(-lo > hi, lo, hi)


def bokeh_channel_values(
    channels: np.ndarray, series: dict[str, np.ndarray], title: str, ylabel: str
) -> object:
    """Interactive per-channel plot (hover shows channel and value)."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

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
    scale: str | None = "deconvolved_electrons",
) -> object:
    """Interactive image (e.g. channel x tick), down-sampled by the caller if large; fixed
    colour range ``scale`` of :data:`SCALES` when given, with a colour bar."""
    from bokeh.models import ColorBar, LinearColorMapper, Range1d  # type: ignore[attr-defined]
    from bokeh.plotting import figure

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
    data = np.ascontiguousarray(img.T.astype(np.float32))
    lo, hi = (
        (SCALES[scale][0], SCALES[scale][1]) if scale else (float(data.min()), float(data.max()))
    )
    mapper = LinearColorMapper(palette="Viridis256", low=lo, high=hi)
    fig.image(image=[data], x=0, y=0, dw=w, dh=h, color_mapper=mapper)  # type: ignore[call-arg]
    fig.add_layout(ColorBar(color_mapper=mapper), "right")
    return fig


def bokeh_scatter(x: np.ndarray, y: np.ndarray, title: str, xlabel: str, ylabel: str) -> object:
    """Interactive scatter (e.g. hits in wire x tick)."""
    from bokeh.plotting import figure

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
    plt = _plt()
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

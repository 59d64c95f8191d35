"""Plots keep their labels inside the figure with fixed margins, and the event display's
down-sampling keeps one-sample features."""

from __future__ import annotations

import numpy as np
import pytest

from payloads import plots


def _outside(fig) -> list[str]:
    """Axes (with their drawn tick labels, axis labels and titles) that stick out of the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    w, h = fig.canvas.get_width_height()
    out = []
    for ax in fig.axes:
        box = ax.get_tightbbox(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > w + 1 or box.y1 > h + 1:
            out.append(f"{ax.get_title() or ax.get_label()}: {box.bounds} in {w}x{h}")
    return out


@pytest.fixture
def keep_figure(monkeypatch):
    """Run a plot function and keep its figure open for inspection."""
    kept = []

    def savefig(self, *args, **kwargs):
        kept.append(self)

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", savefig)
    monkeypatch.setattr(plots._plt(), "close", lambda fig: None)
    return kept


def test_histograms_colour_maps_and_spectra_keep_every_label_inside(keep_figure, tmp_path):
    rng = np.random.default_rng(3)
    vals = {p: rng.normal(4, 0.6, 900) for p in "uvx"}
    plots.plot_histograms_with_bands(
        vals, {p: (3, 5) for p in "uvx"}, "RMS [ADC]", "t", tmp_path / "h"
    )
    plots.plot_board_map(rng.uniform(3, 5, (20, 3)), "boards", "RMS [ADC]", tmp_path / "b")
    plots.plot_asic_map(rng.normal(0, 50, (20, 8, 3)), "asics", "shift [ADC]", tmp_path / "a")
    freqs = np.linspace(0, 1e6, 3001)
    spectra = rng.uniform(1e-3, 1, (3, 3001))
    plots.plot_spectra(freqs, spectra, [[{"freq_hz": 3e5}], [], []], "spectra", tmp_path / "s")
    img = rng.normal(0, 10, (2560, 6000)).astype(np.float32)
    plots.plot_event_display(
        {"raw [ADC]": img, "deconvolved [electrons/tick]": img}, "ev", tmp_path / "e"
    )
    assert len(keep_figure) == 5
    for fig in keep_figure:
        assert _outside(fig) == []


def test_down_sampling_keeps_a_one_sample_spike_of_either_sign():
    img = np.zeros((2560, 6000), np.float32)
    img[1001, 4321] = 250.0
    img[17, 5] = -300.0
    pooled = plots._pool(img, 2, 12)
    assert pooled.shape == (1280, 500)
    assert pooled[1001 // 2, 4321 // 12] == 250.0
    assert pooled[17 // 2, 5 // 12] == -300.0
    assert np.count_nonzero(pooled) == 2

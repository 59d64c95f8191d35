"""Payloads read only the chosen events: a 10 % fraction reads about 10 % of the ADC bytes."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim import writer
from payloads.daqsim.tpc import SimConfig
from payloads.detector import Detector
from payloads.rawio import RawFile, select_events
from payloads.stages.adcfft import analyse_file

START = datetime(2026, 1, 1, tzinfo=UTC)


SMALL = Detector(n_ticks=600)  # same channel map, fewer ticks: 20 events stay small


@pytest.fixture(scope="module")
def twenty_events(tmp_path_factory) -> Path:
    cfg = SimConfig(det=SMALL, signals=False)
    info = writer.write_tpc_file(
        tmp_path_factory.mktemp("frac"),
        seed=5,
        run=1,
        subrun=1,
        n_events=20,
        apas=[0],
        start=START,
        cfg=cfg,
    )
    return info.path


def test_event_choice_is_deterministic_and_evenly_spread():
    assert select_events(20, 0.1).tolist() == [5, 15]
    assert select_events(10, 1.0).tolist() == list(range(10))
    assert select_events(3, 0.01).tolist() == [1]
    with pytest.raises(ValueError):
        select_events(3, 0.0)


def test_ten_percent_reads_about_ten_percent_of_the_adc_bytes(twenty_events):
    adc_bytes_per_event = SMALL.n_channels * SMALL.n_ticks * 2
    with RawFile(twenty_events, det=SMALL) as raw:
        header = raw.bytes_read
        positions = select_events(raw.n_events, 0.1)
        analyse_file(raw, positions)
        data = raw.bytes_read - header
    expected = 0.1 * 20 * adc_bytes_per_event
    lo, hi = tol.FRACTION_BYTES_RATIO
    assert lo <= data / expected <= hi, (data, expected)


def test_full_fraction_reads_every_event_once(twenty_events):
    with RawFile(twenty_events, det=SMALL) as raw:
        header = raw.bytes_read
        analyse_file(raw, np.arange(raw.n_events))
        data = raw.bytes_read - header
    assert data == pytest.approx(20 * SMALL.n_channels * SMALL.n_ticks * 2, rel=0.05)


def test_one_femb_is_one_chunk(twenty_events):
    with RawFile(twenty_events, det=SMALL) as raw:
        before = raw.bytes_read
        chans, data = raw.read_femb(3, 0, femb=7)
        read = raw.bytes_read - before
        full = raw.read_apa(3, 0)
    assert data.shape == (128, SMALL.n_ticks)
    assert np.array_equal(full[chans], data)
    assert sorted(set(SMALL.femb[chans])) == [7]
    assert 128 * SMALL.n_ticks * 2 <= read < 1.1 * 128 * SMALL.n_ticks * 2

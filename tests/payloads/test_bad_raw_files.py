"""Bad raw files make the stages exit non-zero with a message naming what is wrong."""

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from payloads.detector import DEFAULT as DET
from payloads.rawio import FORMAT_TPC, INDEX_DTYPE
from payloads.stages import adcfft, daq, sig


def uri(p) -> str:
    return Path(p).resolve().as_uri()


def _write_header_only(path, shape=(2560, 6000), with_dataset=True, with_index=True):
    with h5py.File(path, "w") as h5:
        h5.attrs.update(
            {
                "format": FORMAT_TPC,
                "stream": "tpc",
                "run": 7,
                "subrun": 1,
                "timestamp": "2026-01-01T00:00:00Z",
                "n_events": 1,
                "apas": np.array([2]),
                "n_channels": DET.n_channels,
                "n_ticks": DET.n_ticks,
                "tick_us": 0.5,
            }
        )
        h5.create_dataset("channel_map", data=DET.readout_to_offline.astype(np.int32))
        grp = h5.create_group("event_3")
        grp.attrs["fembs_present"] = np.array([(1 << 20) - 1])
        if with_dataset:  # never written: costs no disk
            grp.create_dataset("apa_2", shape=shape, dtype=np.int16, chunks=(128, shape[1]))
        if with_index:
            idx = np.zeros(1, dtype=INDEX_DTYPE)
            idx[0] = (3, b"event_3", 0.0, 0, 0)
            h5.create_dataset("index", data=idx)


@pytest.mark.parametrize("main", [adcfft.main, sig.main])
def test_wrong_shape_is_reported_with_the_dataset_and_shapes(tmp_path, run_job, capsys, main):
    bad = tmp_path / "wrong.h5"
    _write_header_only(bad, shape=(2560, 5000))
    code, result = run_job(main, inputs=[uri(bad)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code != 0 and result is None
    assert "/event_3/apa_2 has shape (2560, 5000), expected (2560, 6000)" in err
    assert "wrong.h5" in err


def test_missing_dataset_is_reported(tmp_path, run_job, capsys):
    bad = tmp_path / "nodata.h5"
    _write_header_only(bad, with_dataset=False)
    code, _ = run_job(adcfft.main, inputs=[uri(bad)])
    assert code != 0
    assert "dataset /event_3/apa_2 is missing" in capsys.readouterr().err


def test_missing_index_is_reported(tmp_path, run_job, capsys):
    bad = tmp_path / "noindex.h5"
    _write_header_only(bad, with_index=False)
    code, _ = run_job(daq.main, inputs=[uri(bad)])
    assert code != 0
    assert "missing the event index dataset /index" in capsys.readouterr().err


@pytest.mark.parametrize("keep", [0.5, 0.999])
@pytest.mark.parametrize("main", [daq.main, adcfft.main])
def test_truncated_file_is_reported(tmp_path, run_job, capsys, raw_file, keep, main):
    cut = tmp_path / "cut.h5"
    shutil.copyfile(raw_file.path, cut)
    with open(cut, "r+b") as fh:
        fh.truncate(int(raw_file.size * keep))
    code, _ = run_job(main, inputs=[uri(cut)])
    err = capsys.readouterr().err
    assert code != 0
    assert "cut.h5" in err and "truncated" in err


def test_missing_file_is_reported(tmp_path, run_job, capsys):
    code, _ = run_job(adcfft.main, inputs=[uri(tmp_path / "absent.h5")])
    assert code != 0
    assert "absent.h5: does not exist" in capsys.readouterr().err


def test_a_file_of_another_stream_is_refused(run_job, capsys, bi_file):
    code, _ = run_job(adcfft.main, inputs=[uri(bi_file.path)])
    assert code != 0
    assert "format attribute is 'p3s-raw-bi/1', expected 'p3s-raw-tpc/1'" in capsys.readouterr().err

"""Beam instrumentation and CRT monitors against the injected truth."""

import h5py
import numpy as np

from payloads import tolerances as tol
from payloads.daqsim.beam import N_FIBRES
from payloads.daqsim.truth import load_json_truth
from payloads.stages.beam import summarize_beam
from payloads.stages.crt import find_bad_strips, strip_occupancy


def test_beam_position_width_and_dead_fibres(bi_file):
    truth = load_json_truth(bi_file.path)
    with h5py.File(bi_file.path) as h5:
        groups = [h5[f"event_{i}"] for i in range(h5.attrs["n_events"])]
        fibres = sum(g["fibres"][()].astype(np.int64) for g in groups)
        momenta = np.concatenate([g["momentum_gev"][()] for g in groups])
    s = summarize_beam(fibres, momenta)
    # the centre and width of the injected Gaussian, seen through 1 mm fibres
    assert np.allclose(s["mean_mm"][:, 0], truth["centre_mm"][0], atol=tol.BEAM_POSITION_MM)
    assert np.allclose(s["mean_mm"][:, 1], truth["centre_mm"][1], atol=tol.BEAM_POSITION_MM)
    assert np.allclose(s["sigma_mm"][:, 0], truth["sigma_mm"][0], atol=tol.BEAM_WIDTH_MM)
    for m in range(s["dead"].shape[0]):
        for p in range(2):
            assert np.flatnonzero(s["dead"][m, p]).tolist() == truth["dead_fibres"]
    assert abs(s["momentum_mean"] - truth["momentum_gev"]) < 0.01
    assert fibres.shape[-1] == N_FIBRES


def test_crt_dead_and_hot_strips_are_found_exactly(crt_file):
    truth = load_json_truth(crt_file.path)
    with h5py.File(crt_file.path) as h5:
        hits = [h5[f"event_{i}/hits"][()] for i in range(h5.attrs["n_events"])]
        occ = strip_occupancy(hits, int(h5.attrs["n_modules"]), int(h5.attrs["n_strips"]))
    bad = find_bad_strips(occ, len(hits))
    assert bad["dead"].tolist() == truth["dead_strips"]
    assert bad["hot"].tolist() == truth["hot_strips"]

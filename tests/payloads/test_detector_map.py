"""The channel map: FEMBs, ASICs, planes and the readout <-> offline permutation."""

import numpy as np

from payloads.detector import DEFAULT as DET
from payloads.dqm.adc import aggregate


def test_readout_order_is_a_permutation_and_inverts():
    r2o = DET.readout_to_offline
    assert np.array_equal(np.sort(r2o), np.arange(DET.n_channels))
    assert np.array_equal(r2o[DET.offline_order], np.arange(DET.n_channels))


def test_every_femb_has_40_u_40_v_48_x_and_every_asic_5_5_6():
    for f in range(DET.n_fembs):
        planes = DET.plane_index[DET.femb == f]
        assert np.bincount(planes, minlength=3).tolist() == [40, 40, 48]
    for a in range(DET.n_fembs * DET.asics_per_femb):
        planes = DET.plane_index[DET.asic == a]
        assert np.bincount(planes, minlength=3).tolist() == [5, 5, 6]


def test_groups_are_contiguous_offline_ranges_per_femb_and_plane():
    for p in range(3):
        chans = DET.group_channels(p)
        for f in range(DET.n_fembs):
            assert set(DET.group[chans[f]]) == {3 * f + p}
    assert np.bincount(DET.group).tolist() == [40, 40, 48] * DET.n_fembs


def test_aggregate_means_per_label():
    vals = np.arange(DET.n_channels, dtype=float)
    by_femb = aggregate(vals, DET.femb, DET.n_fembs)
    assert by_femb[0] == vals[DET.femb == 0].mean()
    assert np.isnan(aggregate(vals[:10], np.zeros(10, int), 2)[1])

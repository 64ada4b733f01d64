"""Entropy, margin and mutual information against hand values and plain loops."""

import math

import numpy as np
import pytest

from astro_clusterclass.calibration import entropy, margin, mutual_information


def _loop_entropy(row):
    return -sum(p * math.log(p) for p in row if p > 0)


def test_hand_values():
    p = [[1, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0], [0.7, 0.2, 0.1, 0.0]]
    np.testing.assert_allclose(entropy(p), [0, 1, 0.5, _loop_entropy(p[3]) / math.log(4)])
    np.testing.assert_allclose(entropy(p, normalize=False)[1], math.log(4))
    np.testing.assert_allclose(margin(p), [1, 0, 0, 0.5])


def test_mutual_information_decomposes_the_entropy():
    rng = np.random.default_rng(0)
    members = rng.dirichlet(np.full(4, 0.7), size=(200, 5))          # (N, M, K)
    mi = mutual_information(members, normalize=False)
    for i in range(0, 200, 37):
        mean = members[i].mean(axis=0)
        expected = _loop_entropy(mean) - np.mean([_loop_entropy(m) for m in members[i]])
        assert mi[i] == pytest.approx(expected, abs=1e-12)
    total = entropy(members.mean(axis=1), normalize=False)
    assert np.all(mi >= 0) and np.all(mi <= total + 1e-12)


def test_agreement_and_shared_doubt_give_zero():
    doubt = np.array([0.4, 0.3, 0.2, 0.1])
    same = np.tile(doubt, (3, 4, 1))                                  # 4 identical members
    np.testing.assert_allclose(mutual_information(same), 0.0, atol=1e-12)
    assert entropy(same[:, 0])[0] > 0.8                               # ... yet much doubt
    single = np.tile(doubt, (3, 1, 1))
    np.testing.assert_array_equal(mutual_information(single), 0.0)
    # Two certain members that disagree: half the normalised maximum.
    assert mutual_information([[[1, 0, 0, 0], [0, 0, 0, 1]]])[0] == pytest.approx(0.5)


def test_nan_rows_and_errors():
    p = [[0.7, 0.1, 0.1, 0.1], [np.nan] * 4]
    assert np.isnan(entropy(p)[1]) and np.isnan(margin(p)[1])
    members = np.array([[[0.5, 0.5, 0, 0], [1, 0, 0, 0]], [[0.5, 0.5, 0, 0], [np.nan] * 4]])
    out = mutual_information(members)
    assert np.isfinite(out[0]) and np.isnan(out[1])
    with pytest.raises(ValueError, match='do not sum to 1'):
        entropy([[0.5, 0.1, 0.1, 0.1]])
    with pytest.raises(ValueError, match=r'shape \(N, M, K\)'):
        mutual_information([[0.5, 0.5, 0, 0]])
    with pytest.raises(ValueError, match='member_probabilities: 1 row'):
        mutual_information([[[0.5, 0.6, 0, 0]]])
    with pytest.raises(ValueError, match=r'shape \(N, 4\)'):
        margin([0.5, 0.5, 0, 0])

"""Tests of the ensemble consolidation against hand-built and independent results."""

import numpy as np
import pytest
from scipy import stats

from astro_clusterclass.classify import consolidate


def test_hand_built_cases():
    classes = [[2, 2, 2, 2],      # all agree
               [1, 2, 3, 4],      # all different: four-way tie
               [3, 4, 4, 3],      # two-way tie
               [1, 1, 1, 4]]      # clear majority
    t = consolidate(classes)
    assert t['class_mode'].tolist() == [2, 1, 3, 1]          # ties → smallest class
    assert t['class_quality'].tolist() == [1.0, 0.25, 0.5, 0.75]
    assert t['class_mean'].tolist() == [2.0, 2.5, 3.5, 1.75]
    assert t['class_median'].tolist() == [2.0, 2.5, 3.5, 1.0]
    np.testing.assert_allclose(t['class_std'], [0.0, np.sqrt(1.25), 0.5, np.sqrt(27 / 16)])
    assert t['n_models'].tolist() == [4, 4, 4, 4]
    assert 'prob_1' not in t.colnames


def test_ties_broken_by_mean_probability():
    classes = [[3, 4, 4, 3], [1, 2, 3, 4], [1, 2, 1, 2]]
    p = np.zeros((3, 4, 4))
    # Row 0: class 4 has the higher mean probability among the tied 3 and 4.
    p[0] = [[0.1, 0.1, 0.45, 0.35], [0.0, 0.0, 0.3, 0.7],
            [0.0, 0.1, 0.2, 0.7], [0.0, 0.0, 0.6, 0.4]]
    # Row 1: all four tied; class 3 has the highest mean probability.
    p[1] = [[0.4, 0.1, 0.3, 0.2], [0.1, 0.4, 0.3, 0.2],
            [0.1, 0.1, 0.5, 0.3], [0.1, 0.1, 0.3, 0.5]]
    # Row 2: tied votes and tied mean probabilities → smallest class.
    p[2] = [[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0]]
    t = consolidate(classes, p)
    assert t['class_mode'].tolist() == [4, 3, 1]
    assert t['class_quality'].tolist() == [0.5, 0.25, 0.5]
    np.testing.assert_allclose(t['prob_4'][0], np.mean([0.35, 0.7, 0.7, 0.4]))
    np.testing.assert_allclose([t[f'prob_{k}'][1] for k in (1, 2, 3, 4)],
                               [0.175, 0.175, 0.35, 0.3])


def test_masked_models_and_rows():
    classes = np.ma.MaskedArray([[1, 2, 2], [4, 4, 4], [3, 3, 1]],
                                mask=[[False, True, False], [True, True, True],
                                      [False, False, False]])
    t = consolidate(classes)
    assert t['n_models'].tolist() == [2, 0, 3]
    assert t['class_mode'].mask.tolist() == [False, True, False]
    assert t['class_mode'].filled(-1).tolist() == [1, -1, 3]
    assert t['class_quality'][0] == 0.5 and t['class_mean'][0] == 1.5
    np.testing.assert_allclose(t['class_quality'][2], 2 / 3)


def test_zero_rows_and_errors():
    t = consolidate(np.zeros((0, 20), dtype=int), np.zeros((0, 20, 4)))
    assert len(t) == 0
    assert t.colnames == ['class_mode', 'class_mean', 'class_median', 'class_std',
                          'class_quality', 'n_models', 'prob_1', 'prob_2', 'prob_3', 'prob_4']
    with pytest.raises(ValueError, match=r'classes must have shape \(N, M\)'):
        consolidate([1, 2, 3])
    with pytest.raises(ValueError, match=r'outside categories .*\[5\]'):
        consolidate([[1, 5]])
    with pytest.raises(ValueError, match=r'probabilities must have shape \(1, 2, 4\)'):
        consolidate([[1, 2]], np.zeros((1, 2, 3)))


def test_random_against_scipy_mode():
    rng = np.random.default_rng(42)
    classes = rng.integers(1, 5, size=(2000, 20))
    t = consolidate(classes)
    mode = stats.mode(classes, axis=1, keepdims=False)   # ties → smallest value
    np.testing.assert_array_equal(t['class_mode'], mode.mode)
    np.testing.assert_allclose(t['class_quality'], mode.count / 20)
    np.testing.assert_allclose(t['class_mean'], classes.mean(axis=1))
    np.testing.assert_allclose(t['class_median'], np.median(classes, axis=1))
    np.testing.assert_allclose(t['class_std'], classes.std(axis=1))


def test_random_with_probabilities_against_loops():
    rng = np.random.default_rng(7)
    n, m = 500, 6                      # few models: many ties
    probs = rng.dirichlet(np.ones(4), size=(n, m))
    probs[::7] = 0.25                  # rows with fully tied probabilities too
    classes = probs.argmax(axis=2) + 1
    classes[::5, :3] = classes[::5, 3:]  # force vote ties
    t = consolidate(classes, probs)
    for i in range(n):
        counts = {k: int(np.sum(classes[i] == k)) for k in (1, 2, 3, 4)}
        top = max(counts.values())
        tied = [k for k in (1, 2, 3, 4) if counts[k] == top]
        mean_p = {k: float(np.mean(probs[i, :, k - 1])) for k in (1, 2, 3, 4)}
        best = max(mean_p[k] for k in tied)
        expected = min(k for k in tied if mean_p[k] == best)
        assert t['class_mode'][i] == expected, i
        assert t['class_quality'][i] == top / m
        for k in (1, 2, 3, 4):
            assert abs(t[f'prob_{k}'][i] - mean_p[k]) < 1e-12

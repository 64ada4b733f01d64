"""ECE, reliability curve, Brier score and NLL against hand-made cases and plain loops."""

import numpy as np
import pytest

from astro_clusterclass.calibration import (brier_score, calibration_scores,
                                            expected_calibration_error,
                                            negative_log_likelihood, reliability_curve)


def _random_case(rng, n, k=4):
    """Probabilities of varied sharpness and labels drawn from distorted probabilities."""
    p = rng.dirichlet(np.full(k, rng.uniform(0.2, 2.0)), size=n)
    distorted = p ** 0.6
    distorted /= distorted.sum(axis=1, keepdims=True)
    labels = 1 + np.argmax(rng.random((n, 1)) < distorted.cumsum(axis=1), axis=1)
    return p, labels


def _loop_ece_uniform(p, labels, n_bins):
    """Guo et al. (2017), eq. 3, one object at a time: bins (m-1)/M < conf <= m/M."""
    totals = [[0, 0.0, 0.0] for _ in range(n_bins)]   # count, sum conf, sum correct
    for row, label in zip(p, labels):
        conf = max(row)
        pred = list(row).index(conf) + 1
        for m in range(n_bins):
            lower, upper = m / n_bins, (m + 1) / n_bins
            if (lower < conf <= upper) or (m == 0 and conf == 0):
                totals[m][0] += 1
                totals[m][1] += conf
                totals[m][2] += pred == label
                break
    return sum(c / len(p) * abs(s_acc / c - s_conf / c) for c, s_conf, s_acc in totals if c)


def _loop_ece_rank(p, labels, n_bins):
    """Equal-count bins by rank: the sorted confidences cut into n_bins equal chunks."""
    conf = p.max(axis=1)
    correct = (np.argmax(p, axis=1) + 1) == labels
    order = np.argsort(conf)
    total = 0.0
    size = len(p) // n_bins
    for m in range(n_bins):
        chunk = order[m * size:(m + 1) * size]
        total += len(chunk) / len(p) * abs(correct[chunk].mean() - conf[chunk].mean())
    return total


def _loop_brier(p, labels):
    total = 0.0
    for row, label in zip(p, labels):
        total += sum((q - (1.0 if k + 1 == label else 0.0)) ** 2 for k, q in enumerate(row))
    return total / len(p)


def _loop_nll(p, labels, eps=1e-12):
    return sum(-np.log(max(row[label - 1], eps)) for row, label in zip(p, labels)) / len(p)


# ----------------------------------------------------------------------------
# Hand-made cases

def test_hand_made_ece():
    # Bin (0.8, 0.9]: four objects at 0.9, three right -> |0.75 - 0.9| = 0.15.
    # Bin (0.5, 0.6]: four at 0.6, all right -> |1 - 0.6| = 0.4. ECE = (0.15 + 0.4) / 2.
    p = [[0.9, 0.1, 0, 0]] * 4 + [[0.6, 0.2, 0.2, 0]] * 4
    labels = [1, 1, 1, 3, 1, 1, 1, 1]
    assert expected_calibration_error(p, labels) == pytest.approx(0.275)
    curve = reliability_curve(p, labels)
    assert curve['n'].tolist() == [0, 0, 0, 0, 0, 4, 0, 0, 4, 0]
    assert curve['accuracy'][8] == 0.75 and curve['confidence'][8] == pytest.approx(0.9)
    assert np.isnan(curve['accuracy'][0])
    # A perfectly calibrated set of bins has ECE 0.
    p = [[0.5, 0.5, 0, 0]] * 2 + [[1, 0, 0, 0]] * 3
    assert expected_calibration_error(p, [1, 2, 1, 1, 1]) == pytest.approx(0.0)


def test_right_closed_bins():
    # Confidence 0.5 belongs to (0.4, 0.5], not (0.5, 0.6] (Guo et al.'s intervals).
    curve = reliability_curve([[0.5, 0.5, 0, 0]], [1], n_bins=10)
    assert curve['n'][4] == 1 and curve['n'].sum() == 1


def test_quantile_bins_hand_made():
    # Eight distinct confidences, two bins: the median edge splits them 4 / 4.
    conf = np.array([0.3, 0.35, 0.4, 0.45, 0.75, 0.8, 0.9, 0.95])
    p = np.column_stack([conf, 1 - conf, np.zeros(8), np.zeros(8)])
    labels = np.array([2, 2, 2, 1, 1, 1, 1, 2])   # low half: class 2 predicted, 3 of 4 right
    curve = reliability_curve(p, labels, n_bins=2, strategy='quantile')
    assert curve['n'].tolist() == [4, 4]
    # Low bin: top probabilities 0.7, 0.65, 0.6, 0.55 (class 2), correct 1, 1, 1, 0.
    low = abs(0.75 - np.mean([0.7, 0.65, 0.6, 0.55]))
    high = abs(0.75 - np.mean([0.75, 0.8, 0.9, 0.95]))
    assert expected_calibration_error(p, labels, n_bins=2, strategy='quantile') == \
        pytest.approx((low + high) / 2)


def test_brier_and_nll_hand_made():
    p = [[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25]]
    labels = [1, 2, 4]
    assert brier_score(p, labels) == pytest.approx((0 + 0.5 + 0.75) / 3)
    assert negative_log_likelihood(p, labels) == pytest.approx((0 + np.log(2) + np.log(4)) / 3)
    # A zero probability of the truth counts as eps, not infinity.
    assert negative_log_likelihood([[1, 0, 0, 0]], [2], eps=1e-6) == pytest.approx(
        -np.log(1e-6))
    assert brier_score([[1, 0, 0, 0]], [2]) == 2.0


def test_single_class_is_scored():
    """One class among the labels is a valid (if narrow) sample for the metrics."""
    p = [[0.8, 0.2, 0, 0]] * 5
    assert expected_calibration_error(p, [1] * 5) == pytest.approx(0.2)
    assert brier_score(p, [1] * 5) == pytest.approx(0.08)


# ----------------------------------------------------------------------------
# Random cases against loops

@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('n_bins', [5, 10, 15])
def test_random_cases_against_loops(seed, n_bins):
    rng = np.random.default_rng(seed)
    p, labels = _random_case(rng, 300)
    assert expected_calibration_error(p, labels, n_bins=n_bins) == pytest.approx(
        _loop_ece_uniform(p, labels, n_bins), abs=1e-12)
    assert brier_score(p, labels) == pytest.approx(_loop_brier(p, labels), abs=1e-12)
    assert negative_log_likelihood(p, labels) == pytest.approx(_loop_nll(p, labels),
                                                               abs=1e-12)


@pytest.mark.parametrize('seed', [3, 4])
def test_quantile_bins_hold_equal_counts(seed):
    # 1000 distinct confidences in 10 bins: the quantile edges fall between the
    # 100th and 101st, 200th and 201st ... values, so the bins are the rank chunks.
    rng = np.random.default_rng(seed)
    p, labels = _random_case(rng, 1000)
    curve = reliability_curve(p, labels, n_bins=10, strategy='quantile')
    assert curve['n'].tolist() == [100] * 10
    assert expected_calibration_error(p, labels, n_bins=10, strategy='quantile') == \
        pytest.approx(_loop_ece_rank(p, labels, 10), abs=1e-12)


def test_calibrated_labels_give_a_small_ece_and_distortion_a_large_one():
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.full(4, 0.5), size=20000)
    labels = 1 + np.argmax(rng.random((20000, 1)) < p.cumsum(axis=1), axis=1)
    assert expected_calibration_error(p, labels) < 0.015
    sharp = p ** 3
    sharp /= sharp.sum(axis=1, keepdims=True)
    assert expected_calibration_error(sharp, labels) > 0.1


def test_calibration_scores_collects_them():
    rng = np.random.default_rng(5)
    p, labels = _random_case(rng, 200)
    scores = calibration_scores(p, labels)
    assert scores['ece'] == expected_calibration_error(p, labels)
    assert scores['ece_quantile'] == expected_calibration_error(p, labels, strategy='quantile')
    assert scores['brier'] == brier_score(p, labels)
    assert scores['nll'] == negative_log_likelihood(p, labels)
    assert scores['accuracy'] == np.mean(np.argmax(p, 1) + 1 == labels)
    assert scores['n'] == 200


# ----------------------------------------------------------------------------
# Bad input

GOOD = [[0.7, 0.1, 0.1, 0.1], [0.2, 0.6, 0.1, 0.1]]


@pytest.mark.parametrize('function', [expected_calibration_error, brier_score,
                                      negative_log_likelihood, reliability_curve])
@pytest.mark.parametrize('probabilities, labels, match', [
    (GOOD, [1, 2, 3], 'has 2 rows but labels has 3'),
    (GOOD, [1, 5], r'outside the classes \[1, 2, 3, 4\]: \[5\]'),
    (GOOD, [0, 1], r'outside the classes .*: \[0\]'),
    (GOOD, [1.0, np.nan], r"outside the classes .*\['nan'\]"),
    (GOOD, np.ma.MaskedArray([1, 2], mask=[False, True]), 'masked value'),
    ([[0.7, 0.1, 0.1, 0.0], [0.2, 0.6, 0.1, 0.1]], [1, 2], r'do not sum to 1 .*row 0'),
    ([[0.7, 0.1, 0.1, 0.1], [np.nan] * 4], [1, 2], 'NaN.*first: row 1.*unclassified'),
    ([[1.2, -0.2, 0, 0]], [1], 'between 0 and 1'),
    ([[0.5, 0.5]], [1], r'shape \(N, 4\)'),
    ([[0.5, 0.5, 0, 0]], [[1]], 'one-dimensional'),
    (np.zeros((0, 4)), [], 'empty'),
    (GOOD, ['a', 'b'], 'must be the classes'),
])
def test_bad_input(function, probabilities, labels, match):
    with pytest.raises(ValueError, match=match):
        function(probabilities, labels)


def test_bad_options():
    with pytest.raises(ValueError, match='n_bins must be a positive integer'):
        expected_calibration_error(GOOD, [1, 2], n_bins=0)
    with pytest.raises(ValueError, match="strategy must be one of 'uniform', 'quantile'"):
        expected_calibration_error(GOOD, [1, 2], strategy='equal')
    with pytest.raises(ValueError, match='eps must be a positive number'):
        negative_log_likelihood(GOOD, [1, 2], eps=0)


def test_other_categories_and_float32_rounding():
    # Two classes labelled 0/1 (another tool's scheme); float32 rows summing to 1 - 1e-7.
    p = np.array([[0.3, 0.7], [0.9, 0.1]], dtype=np.float32)
    assert expected_calibration_error(p, [1, 0], categories=(0, 1)) == pytest.approx(
        (0.3 + 0.1) / 2)
    with pytest.raises(ValueError, match='categories must be at least two ascending'):
        brier_score(p, [1, 0], categories=(1,))

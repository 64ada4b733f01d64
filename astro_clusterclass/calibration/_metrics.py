"""
How well probabilities match frequencies: ECE, reliability curve, Brier score, NLL.

Definitions (N objects, K classes, ``p`` the probabilities, ``y`` the label):

- confidence = ``max_k p_k``, prediction = the class of that maximum (the
  smallest class among equal maxima);
- reliability curve and expected calibration error (ECE) of Guo et al.
  (2017, "On calibration of modern neural networks", ICML, eq. 3): the
  confidences are binned into ``n_bins`` intervals ``(lower, upper]``
  (the first also takes its lower edge) and
  ``ECE = sum_m |B_m| / N * |accuracy(B_m) - confidence(B_m)|``. Bins are
  equal-width on [0, 1] (``strategy='uniform'``) or have edges at the
  quantiles of the confidences (``strategy='quantile'``, about N / n_bins
  objects each; equal confidences never straddle an edge, so ties can
  leave bins empty). Empty bins contribute nothing;
- Brier score (Brier 1950, the multi-class form):
  ``mean_i sum_k (p_ik - [y_i = k])^2``, from 0 (perfect) to 2;
- negative log-likelihood: ``mean_i -ln p_i,y_i``, with probabilities
  clipped below at ``eps`` so that one zero does not make it infinite.
"""

import numpy as np
from astropy.table import QTable

from .._utils.validation import check_choice, positive_float, positive_int
from ..classes import CLASSES
from ._checks import check_categories, check_labels, check_pair, check_probabilities

__all__ = ['expected_calibration_error', 'reliability_curve', 'brier_score',
           'negative_log_likelihood', 'calibration_scores', 'BIN_STRATEGIES']

#: Binning of the confidences: equal-width or equal-count bins.
BIN_STRATEGIES = ('uniform', 'quantile')


def _prepared(probabilities, labels, categories):
    cats = check_categories(categories)
    prob = check_probabilities(probabilities, cats.size)
    index = check_labels(labels, cats)
    check_pair(prob, index)
    return prob, index


def _bins(confidence, n_bins, strategy):
    """Edges ``(n_bins + 1,)`` and the bin of every confidence."""
    n_bins = positive_int(n_bins, 'n_bins')
    check_choice(strategy, BIN_STRATEGIES, 'strategy')
    if strategy == 'uniform':
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.quantile(confidence, np.linspace(0.0, 1.0, n_bins + 1))
    which = np.searchsorted(edges[1:-1], confidence, side='left')
    return edges, which


def reliability_curve(probabilities, labels, *, n_bins=10, strategy='uniform',
                      categories=CLASSES):
    """
    Accuracy against confidence in bins of the top probability.

    Parameters
    ----------
    probabilities : array-like, shape ``(N, K)``
        Class probabilities (rows sum to one), columns in ``categories`` order.
    labels : array-like, shape ``(N,)``
        True classes (1-4).
    n_bins : int, optional
        Number of bins.
    strategy : {'uniform', 'quantile'}, optional
        Equal-width bins on [0, 1] or equal-count bins (module docstring).
    categories : sequence of int, optional
        The classes of the columns.

    Returns
    -------
    curve : `~astropy.table.QTable`
        One row per bin: ``bin_lower``, ``bin_upper``, ``n`` (objects),
        ``confidence`` (their mean top probability), ``accuracy`` (fraction
        whose top class is the label) and ``gap`` (accuracy - confidence);
        NaN for empty bins.

    Raises
    ------
    ValueError
        For rows that do not sum to one or hold NaN, labels outside
        ``categories``, mismatched lengths, or bad options.

    Examples
    --------
    >>> from astro_clusterclass.calibration import reliability_curve
    >>> p = [[0.9, 0.1, 0, 0], [0.9, 0.1, 0, 0], [0.6, 0.4, 0, 0], [0.6, 0.4, 0, 0]]
    >>> curve = reliability_curve(p, [1, 2, 1, 1], n_bins=5)
    >>> curve['n'].tolist(), curve['accuracy'][[2, 4]].tolist()
    ([0, 0, 2, 0, 2], [1.0, 0.5])
    """
    prob, index = _prepared(probabilities, labels, categories)
    confidence = prob.max(axis=1)
    correct = np.argmax(prob, axis=1) == index
    edges, which = _bins(confidence, n_bins, strategy)
    m = len(edges) - 1
    count = np.bincount(which, minlength=m)
    with np.errstate(invalid='ignore', divide='ignore'):
        conf = np.bincount(which, weights=confidence, minlength=m) / count
        acc = np.bincount(which, weights=correct, minlength=m) / count
    curve = QTable({'bin_lower': edges[:-1], 'bin_upper': edges[1:], 'n': count,
                    'confidence': conf, 'accuracy': acc, 'gap': acc - conf})
    curve.meta.update({'strategy': strategy, 'n_bins': m, 'n': int(len(prob))})
    return curve


def expected_calibration_error(probabilities, labels, *, n_bins=10, strategy='uniform',
                               categories=CLASSES):
    """
    Expected calibration error of Guo et al. (2017).

    ``sum_m |B_m| / N * |accuracy(B_m) - confidence(B_m)|`` over bins of
    the top probability (see the module docstring for the bins).

    Parameters
    ----------
    probabilities : array-like, shape ``(N, K)``
        Class probabilities (rows sum to one).
    labels : array-like, shape ``(N,)``
        True classes (1-4).
    n_bins : int, optional
    strategy : {'uniform', 'quantile'}, optional
    categories : sequence of int, optional

    Returns
    -------
    ece : float
        From 0 (calibrated) to 1.

    Raises
    ------
    ValueError
        As `reliability_curve`.

    Examples
    --------
    Four objects at 90 % confidence of which three are right, and four at
    60 % of which three are right: the first bin is 15 points
    over-confident, the second 15 points under-confident:

    >>> from astro_clusterclass.calibration import expected_calibration_error
    >>> p = [[0.9, 0.1, 0, 0]] * 4 + [[0.6, 0.4, 0, 0]] * 4
    >>> round(expected_calibration_error(p, [1, 1, 1, 2] + [1, 1, 1, 2]), 6)
    0.15
    """
    curve = reliability_curve(probabilities, labels, n_bins=n_bins, strategy=strategy,
                              categories=categories)
    used = curve['n'] > 0
    weights = np.asarray(curve['n'][used], dtype=float) / curve.meta['n']
    return float(np.sum(weights * np.abs(np.asarray(curve['gap'][used]))))


def brier_score(probabilities, labels, *, categories=CLASSES):
    """
    The multi-class Brier score: ``mean_i sum_k (p_ik - [y_i = k])^2``.

    Parameters
    ----------
    probabilities : array-like, shape ``(N, K)``
    labels : array-like, shape ``(N,)``
    categories : sequence of int, optional

    Returns
    -------
    score : float
        0 for certain, correct probabilities; 2 for certain, wrong ones.

    Examples
    --------
    >>> from astro_clusterclass.calibration import brier_score
    >>> brier_score([[1, 0, 0, 0], [0.5, 0.5, 0, 0]], [1, 2])   # (0 + 0.25 + 0.25) / 2
    0.25
    """
    prob, index = _prepared(probabilities, labels, categories)
    onehot = np.zeros_like(prob)
    onehot[np.arange(len(prob)), index] = 1.0
    return float(np.mean(np.sum((prob - onehot) ** 2, axis=1)))


def negative_log_likelihood(probabilities, labels, *, eps=1e-12, categories=CLASSES):
    """
    Mean negative log-likelihood of the labels: ``mean_i -ln p_i,y_i`` (nats).

    Parameters
    ----------
    probabilities : array-like, shape ``(N, K)``
    labels : array-like, shape ``(N,)``
    eps : float, optional
        Probabilities below ``eps`` count as ``eps`` (a float32 softmax
        underflows to exactly 0 beyond a logit gap of about 100).
    categories : sequence of int, optional

    Returns
    -------
    nll : float

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.calibration import negative_log_likelihood
    >>> nll = negative_log_likelihood([[0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25]], [1, 3])
    >>> bool(np.isclose(nll, (np.log(2) + np.log(4)) / 2))
    True
    """
    eps = positive_float(eps, 'eps')
    prob, index = _prepared(probabilities, labels, categories)
    return float(np.mean(-np.log(np.maximum(prob[np.arange(len(prob)), index], eps))))


def calibration_scores(probabilities, labels, *, n_bins=10, categories=CLASSES):
    """
    ECE (both binnings), Brier score, NLL and accuracy in one dict.

    What provenance records (``meta['classification']['calibration']``)
    and what the benchmark prints.

    Examples
    --------
    >>> from astro_clusterclass.calibration import calibration_scores
    >>> scores = calibration_scores([[0.7, 0.1, 0.1, 0.1]] * 2, [1, 2])
    >>> sorted(scores), scores['accuracy']
    (['accuracy', 'brier', 'ece', 'ece_quantile', 'n', 'nll'], 0.5)
    """
    prob, index = _prepared(probabilities, labels, categories)
    cats = check_categories(categories)
    return {'n': int(len(prob)),
            'accuracy': float(np.mean(np.argmax(prob, axis=1) == index)),
            'ece': expected_calibration_error(prob, cats[index], n_bins=n_bins,
                                              categories=cats),
            'ece_quantile': expected_calibration_error(prob, cats[index], n_bins=n_bins,
                                                       strategy='quantile', categories=cats),
            'brier': brier_score(prob, cats[index], categories=cats),
            'nll': negative_log_likelihood(prob, cats[index], categories=cats)}

"""
Uncertainty of a classification: entropy, margin and the ensemble's mutual information.

For an ensemble of M models with probabilities ``p_m`` and their mean
``p`` (Lakshminarayanan et al. 2017; Depeweg et al. 2018):

- ``entropy = H(p) = -sum_k p_k ln p_k``: the total doubt;
- ``mutual information = H(p) - mean_m H(p_m)``: the part of it that comes
  from the members disagreeing (zero when they agree, whatever their own
  doubt); the rest, ``mean_m H(p_m)``, is the doubt every member shares;
- ``margin = p_(1) - p_(2)``, the two largest probabilities: small when
  two classes compete.

Entropy and mutual information are divided by ``ln K`` (``normalize``),
so they run from 0 (certain) to 1 (all K classes equally likely).
"""

import numpy as np
from scipy.special import entr

from ..classes import CLASSES
from ._checks import check_probabilities

__all__ = ['entropy', 'margin', 'mutual_information', 'UNCERTAINTY_COLUMNS']

#: Columns `~astro_clusterclass.classify.classify_table` adds, and their descriptions.
UNCERTAINTY_COLUMNS = {
    'prob_entropy': ('entropy of prob_1..prob_4 divided by ln 4: 0 = certain, '
                     '1 = every class equally likely'),
    'prob_margin': 'difference between the two largest of prob_1..prob_4',
    'prob_mutual_info': ('mutual information between class and model (the members\' '
                         'disagreement), divided by ln 4; 0 for one model'),
}


def _width(probabilities):
    """K of an ``(N, K)`` input (4 for a wrong shape, so that the error shows the classes)."""
    return np.shape(probabilities)[1] if np.ndim(probabilities) == 2 else len(CLASSES)


def _entropy(prob, normalize):
    h = entr(prob).sum(axis=-1)
    return h / np.log(prob.shape[-1]) if normalize else h


def entropy(probabilities, *, normalize=True):
    """
    Entropy of class probabilities, ``-sum_k p_k ln p_k``.

    Parameters
    ----------
    probabilities : array-like, shape ``(N, K)``
        Rows sum to one; rows with NaN (unclassified) give NaN.
    normalize : bool, optional
        Divide by ``ln K`` (0 to 1); else in nats.

    Returns
    -------
    entropy : `~numpy.ndarray`
        ``(N,)`` float64.

    Examples
    --------
    >>> from astro_clusterclass.calibration import entropy
    >>> entropy([[1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0]]).tolist()
    [0.0, 1.0, 0.5]
    """
    prob = check_probabilities(probabilities, _width(probabilities), allow_nan=True)
    return _entropy(prob, normalize)


def margin(probabilities):
    """
    Difference between the two largest probabilities of each row.

    Parameters
    ----------
    probabilities : array-like, shape ``(N, K)``
        Rows with NaN give NaN.

    Returns
    -------
    margin : `~numpy.ndarray`
        ``(N,)`` float64, 0 (two classes tied) to 1 (certain).

    Examples
    --------
    >>> from astro_clusterclass.calibration import margin
    >>> margin([[0.7, 0.2, 0.1, 0.0], [0.4, 0.4, 0.2, 0.0]]).round(6).tolist()
    [0.5, 0.0]
    """
    prob = check_probabilities(probabilities, _width(probabilities), allow_nan=True)
    top = np.sort(prob, axis=1)
    return top[:, -1] - top[:, -2]


def mutual_information(member_probabilities, *, normalize=True):
    """
    Mutual information between the class and the member of an ensemble.

    ``H(mean_m p_m) - mean_m H(p_m)``: how much the members disagree,
    separate from the doubt each has on its own. Rounding can make it a
    hair below zero; it is clipped at 0.

    Parameters
    ----------
    member_probabilities : array-like, shape ``(N, M, K)``
        Probabilities of each of M members; a candidate with NaN in any
        member gives NaN.
    normalize : bool, optional
        Divide by ``ln K`` (0 to 1); else in nats.

    Returns
    -------
    mutual_information : `~numpy.ndarray`
        ``(N,)`` float64; 0 for a single model.

    Examples
    --------
    Two confident members that disagree, and two that share one doubt:

    >>> from astro_clusterclass.calibration import entropy, mutual_information
    >>> members = [[[1, 0, 0, 0], [0, 1, 0, 0]], [[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0]]]
    >>> mutual_information(members).tolist()
    [0.5, 0.0]
    """
    probs = np.ma.filled(np.ma.asarray(member_probabilities, dtype=float), np.nan)
    if probs.ndim != 3:
        msg = (f'member_probabilities must have shape (N, M, K) (candidates, models, '
               f'classes), got {probs.shape}')
        raise ValueError(msg)
    n, m, k = probs.shape
    flat = check_probabilities(probs.reshape(n * m, k), k, parameter='member_probabilities',
                               allow_nan=True).reshape(n, m, k)
    ok = np.isfinite(flat).all(axis=(1, 2))
    out = np.full(n, np.nan)
    if ok.any():
        good = flat[ok]
        mi = _entropy(good.mean(axis=1), normalize) - _entropy(good, normalize).mean(axis=1)
        out[ok] = np.maximum(mi, 0.0)
    return out

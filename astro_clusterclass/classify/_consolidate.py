"""
Consolidating the classes of an ensemble of models, as PHANGS-HST does.

Whitmore et al. (2021, Appendix A) run 10 ResNet18 and 10 VGG19-BN models
on every candidate and tabulate, per candidate, the mean, median, mode and
standard deviation of the 20 classes and a quality factor: the fraction of
the models whose class equals the mode. `consolidate` computes exactly
these, plus the mean class probabilities.

Conventions adopted here (the paper does not state them):

- **Tie rule.** When several classes share the largest number of votes,
  the mode is the tied class with the highest mean probability over the
  ensemble; if probabilities are not given or are tied too, the smallest
  class label wins (the rule of `scipy.stats.mode`). ``class_quality`` is
  the same for every tied class, so the tie rule never changes it.
- **Standard deviation** is the population value (``ddof=0``): 0 for a
  single model or a unanimous ensemble.
- **Median** of an even number of models is the mean of the two middle
  classes (it can be x.5).
- Models with a masked class for a candidate are left out of that
  candidate's statistics; candidates without any class get masked results.
"""

import numpy as np
from astropy.table import MaskedColumn, QTable

from ..classes import CLASSES

__all__ = ['consolidate', 'ENSEMBLE_COLUMNS']

#: Columns made by `consolidate`, in order (``prob_<k>`` per category follow).
ENSEMBLE_COLUMNS = ('class_mode', 'class_mean', 'class_median', 'class_std',
                    'class_quality', 'n_models')


def consolidate(classes, probabilities=None, *, categories=CLASSES):
    """
    Ensemble statistics of per-model classes.

    Parameters
    ----------
    classes : array-like or masked array, shape ``(N, M)``
        Class of each of N candidates by each of M models; masked (or
        negative) entries mean "no class from this model".
    probabilities : array-like, shape ``(N, M, K)``, optional
        Class probabilities of each model, in ``categories`` order; used for
        the mean probabilities and to break ties of the mode.
    categories : sequence of int, optional
        The K possible classes, ascending (default 1, 2, 3, 4).

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per candidate with masked columns:

        - ``class_mode`` (int): most frequent class (tie rule: module docstring);
        - ``class_mean``, ``class_median``, ``class_std`` (float): of the classes;
        - ``class_quality`` (float): fraction of the models agreeing with the mode;
        - ``n_models`` (int): models that classified the candidate;
        - ``prob_<k>`` (float, one per category): mean probability of class k
          (only when ``probabilities`` is given).

    Raises
    ------
    ValueError
        If shapes disagree or a class is not one of ``categories``.

    Examples
    --------
    >>> from astro_clusterclass.classify import consolidate
    >>> t = consolidate([[1, 1, 2, 1], [3, 4, 3, 4], [1, 2, 3, 4]])
    >>> t['class_mode'].tolist(), t['class_quality'].tolist()
    ([1, 3, 1], [0.75, 0.5, 0.25])
    >>> t['class_median'].tolist()
    [1.0, 3.5, 2.5]
    """
    cls = np.ma.asarray(classes)
    if cls.ndim != 2:
        msg = f'classes must have shape (N, M), got {cls.shape}'
        raise ValueError(msg)
    categories = np.asarray(categories)
    if categories.ndim != 1 or categories.size == 0 or np.any(np.diff(categories) <= 0):
        msg = f'categories must be ascending and non-empty, got {categories.tolist()}'
        raise ValueError(msg)
    valid = ~np.ma.getmaskarray(cls)
    data = np.asarray(cls.filled(-1))
    valid &= data >= 0
    if np.issubdtype(data.dtype, np.floating):
        if np.any(valid & (data != np.round(data))):
            msg = 'classes must be whole numbers'
            raise ValueError(msg)
        data = np.where(valid, data, -1).astype(np.int64)
    unknown = valid & ~np.isin(data, categories)
    if np.any(unknown):
        msg = (f'classes contains labels outside categories {categories.tolist()}: '
               f'{sorted(set(data[unknown].tolist()))[:10]}')
        raise ValueError(msg)
    n, m = data.shape
    k = categories.size

    onehot = (data[:, :, None] == categories[None, None, :]) & valid[:, :, None]
    counts = onehot.sum(axis=1)                       # (N, K)
    n_models = valid.sum(axis=1)
    top = counts.max(axis=1, initial=0)
    tied = counts == top[:, None]

    prob_mean = None
    if probabilities is not None:
        prob = np.asarray(probabilities, dtype=float)
        if prob.shape != (n, m, k):
            msg = f'probabilities must have shape {(n, m, k)}, got {prob.shape}'
            raise ValueError(msg)
        weight = valid[:, :, None]
        with np.errstate(invalid='ignore', divide='ignore'):
            prob_mean = (np.where(weight, prob, 0.0).sum(axis=1)
                         / n_models[:, None])
        # Tied classes compete on mean probability; argmax then takes the
        # first (smallest) class among equal scores.
        score = np.where(tied, np.nan_to_num(prob_mean, nan=0.0), -np.inf)
        mode_index = np.argmax(score, axis=1)
    else:
        mode_index = np.argmax(tied, axis=1)          # first tied = smallest class
    mode = categories[mode_index]

    values = np.where(valid, data, np.nan).astype(float)
    none = n_models == 0
    with np.errstate(invalid='ignore', divide='ignore'):
        quality = top / n_models
        mean = np.nansum(values, axis=1) / n_models
        std = np.sqrt(np.nansum((values - mean[:, None]) ** 2, axis=1) / n_models)
    median = np.full(n, np.nan)
    if np.any(~none):
        median[~none] = np.nanmedian(values[~none], axis=1)

    out = QTable()
    out['class_mode'] = MaskedColumn(np.where(none, 0, mode).astype(np.int64), mask=none)
    for name, column in (('class_mean', mean), ('class_median', median),
                         ('class_std', std), ('class_quality', quality)):
        out[name] = MaskedColumn(np.where(none, np.nan, column), mask=none)
    out['n_models'] = n_models.astype(np.int64)
    if prob_mean is not None:
        for j, category in enumerate(categories):
            out[f'prob_{category}'] = MaskedColumn(np.where(none, np.nan, prob_mean[:, j]),
                                                   mask=none)
    return out

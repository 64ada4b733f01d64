"""
Temperature and vector scaling (Guo et al. 2017), their storage and their provenance.

Temperature scaling divides a classifier's logits by one number ``T``
before the softmax; vector scaling multiplies each class's logit by its
own factor and adds a bias. Both are fitted by minimising the negative
log-likelihood of labelled objects (convex problems). Temperature scaling
never changes the most probable class; vector scaling can.

They work on any classifier's scores: logits (``kind='logits'``, e.g.
StarcNet's published outputs) or probabilities (``kind='probabilities'``,
whose logarithms are used). Softmax is blind to a constant added to every
logit of an object, so the log-probabilities of one network are its
logits up to such a constant and temperature scaling gives the same
result from either. For an ensemble the probabilities are the members'
mean (``prob_1`` ... ``prob_4`` of a classified table): the ensemble is
calibrated as a whole.
"""

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.special import logsumexp, softmax

from .._utils.columns import require_columns
from .._utils.files import atomic_path, check_output
from .._utils.validation import check_choice
from ..classes import CLASSES
from ..tables import provenance
from ._checks import check_categories, check_labels, check_pair, check_scores
from ._metrics import calibration_scores

__all__ = ['Calibration', 'fit_temperature', 'fit_calibration', 'read_calibration',
           'stored_calibration', 'probabilities_from_table', 'CALIBRATION_METHODS',
           'CALIBRATION_SUFFIX']

#: Calibration maps: one temperature, or a scale and a bias per class.
CALIBRATION_METHODS = ('temperature', 'vector')

#: End of the names of calibration files beside checkpoints
#: (found by ``classify_table(..., calibration='stored')``).
CALIBRATION_SUFFIX = '.calibration.json'

#: Name of the file format, and its version.
_FORMAT = 'astro_clusterclass.calibration'
_FORMAT_VERSION = 1

#: Temperatures searched (a fit that ends on a bound is refused).
_T_BOUNDS = (1e-3, 1e3)


@dataclass(frozen=True)
class Calibration:
    """
    A fitted calibration map from scores to calibrated probabilities.

    Made by `fit_temperature` or `fit_calibration`; written with `save`,
    read with `read_calibration`, given to
    `~astro_clusterclass.classify.classify_table` as ``calibration``.

    Attributes
    ----------
    method : {'temperature', 'vector'}
    kind : {'logits', 'probabilities'}
        The scores it was fitted on (and applies to by default).
    temperature : float or None
        ``T`` of temperature scaling (calibrated = softmax(z / T)); None for
        vector scaling.
    scale, bias : tuple of float or None
        Vector scaling: calibrated = softmax(scale * z + bias), the bias
        centred on zero (softmax ignores a common shift).
    categories : tuple of int
        The classes of the score columns.
    models : tuple of str or None
        SHA-256 of the models (in order) whose outputs it calibrates; None
        if unknown. ``classify_table`` refuses it for other models.
    fit : dict
        Provenance: ``n``, ``class_counts``, ``before`` / ``after`` (ECE,
        Brier, NLL, accuracy on the fitting data), ``data``, ``date``,
        ``version`` (of the packages).

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.calibration import Calibration
    >>> cal = Calibration('temperature', 'logits', temperature=2.0)
    >>> cal.apply([[2.0, 0.0, 0.0, 0.0]]).round(3)   # softmax of [1, 0, 0, 0]
    array([[0.475, 0.175, 0.175, 0.175]])
    """

    method: str
    kind: str
    temperature: float = None
    scale: tuple = None
    bias: tuple = None
    categories: tuple = CLASSES
    models: tuple = None
    fit: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        check_choice(self.method, CALIBRATION_METHODS, 'method')
        check_choice(self.kind, ('logits', 'probabilities'), 'kind')
        cats = tuple(int(k) for k in check_categories(self.categories))
        object.__setattr__(self, 'categories', cats)
        if self.method == 'temperature':
            t = self.temperature
            if not (isinstance(t, (int, float, np.floating)) and np.isfinite(t) and t > 0):
                msg = f'temperature must be a positive number, got {t!r}'
                raise ValueError(msg)
            object.__setattr__(self, 'temperature', float(t))
            if self.scale is not None or self.bias is not None:
                msg = 'scale and bias belong to vector scaling, not to method=\'temperature\''
                raise ValueError(msg)
        else:
            for name in ('scale', 'bias'):
                values = np.asarray(getattr(self, name), dtype=float)
                if values.shape != (len(cats),) or not np.isfinite(values).all():
                    msg = (f'{name} must be {len(cats)} finite numbers (one per class), '
                           f'got {getattr(self, name)!r}')
                    raise ValueError(msg)
                object.__setattr__(self, name, tuple(values.tolist()))
            if self.temperature is not None:
                msg = "temperature belongs to method='temperature'"
                raise ValueError(msg)
        if self.models is not None:
            object.__setattr__(self, 'models', tuple(str(m) for m in self.models))

    def __repr__(self):
        what = (f'T={self.temperature:.4g}' if self.method == 'temperature'
                else f'scale={np.round(self.scale, 3).tolist()}')
        fitted = ''
        if self.fit.get('before') and self.fit.get('after'):
            fitted = (f', fitted on {self.fit["n"]} objects (ECE {self.fit["before"]["ece"]:.3f}'
                      f' -> {self.fit["after"]["ece"]:.3f})')
        return f'<Calibration {self.method} {what} on {self.kind}{fitted}>'

    def _transform(self, z):
        if self.method == 'temperature':
            return z / self.temperature
        return z * np.asarray(self.scale) + np.asarray(self.bias)

    def apply(self, scores, *, kind=None):
        """
        Calibrated probabilities of scores.

        Parameters
        ----------
        scores : array-like, shape ``(N, K)``
            Logits or probabilities, columns in ``categories`` order.
        kind : {'logits', 'probabilities'}, optional
            What ``scores`` are (default: what the map was fitted on).
            Temperature scaling applies to either; vector scaling only to
            the kind it was fitted on (it is not blind to a shift of the
            logits).

        Returns
        -------
        probabilities : `~numpy.ndarray`
            ``(N, K)`` float64. Rows of ``scores`` that hold NaN or masked
            values (unclassified candidates) come back as rows of NaN.

        Raises
        ------
        ValueError
            For a wrong shape, probabilities that do not sum to one, or a
            vector scaling applied to the other kind of score.
        """
        kind = self.kind if kind is None else kind
        if self.method == 'vector' and kind != self.kind:
            msg = (f'kind={kind!r}: this vector scaling was fitted on {self.kind} and applies '
                   f'to {self.kind} only')
            raise ValueError(msg)
        z = check_scores(scores, len(self.categories), kind=kind, allow_nan=True)
        out = np.full(z.shape, np.nan)
        ok = np.isfinite(z).all(axis=1)
        out[ok] = softmax(self._transform(z[ok]), axis=1)
        return out

    # -- storage -------------------------------------------------------------

    def to_dict(self):
        """
        JSON-serialisable form (a calibration file, or checkpoint metadata).

        Store it inside a checkpoint with
        ``save_checkpoint(model, path, meta={'calibration': cal.to_dict()})``.
        """
        return {'format': _FORMAT, 'format_version': _FORMAT_VERSION, 'method': self.method,
                'kind': self.kind, 'temperature': self.temperature,
                'scale': None if self.scale is None else list(self.scale),
                'bias': None if self.bias is None else list(self.bias),
                'categories': list(self.categories),
                'models': None if self.models is None else list(self.models),
                'fit': _plain(self.fit)}

    @classmethod
    def from_dict(cls, d):
        """
        The calibration of `to_dict`'s output.

        Raises
        ------
        ValueError
            If ``d`` is not a calibration record of a known version.
        """
        if not isinstance(d, dict) or d.get('format') != _FORMAT:
            msg = f'not a calibration record (format {_FORMAT!r}): {str(d)[:80]!r}'
            raise ValueError(msg)
        if d.get('format_version') != _FORMAT_VERSION:
            msg = (f'calibration format_version {d.get("format_version")!r} is not supported '
                   f'(this version reads {_FORMAT_VERSION})')
            raise ValueError(msg)
        models = d.get('models')
        return cls(method=d['method'], kind=d['kind'], temperature=d.get('temperature'),
                   scale=d.get('scale'), bias=d.get('bias'),
                   categories=tuple(d.get('categories', CLASSES)),
                   models=None if models is None else tuple(models), fit=d.get('fit') or {})

    def save(self, path, *, overwrite=False):
        """
        Write the calibration as a small JSON file (atomically).

        Name it ``<checkpoint stem>.calibration.json`` beside the
        checkpoint(s) it belongs to so that
        ``classify_table(..., calibration='stored')`` finds it.

        Returns
        -------
        path : str
        """
        path = check_output(path, overwrite=overwrite, parameter='path')
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + '\n')
        return path

    def for_models(self, models):
        """The same map recorded for other models (a tuple of SHA-256, or None)."""
        return replace(self, models=None if models is None else tuple(models))


def _plain(value):
    """``value`` with numpy scalars and arrays turned into JSON types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_calibration(path):
    """
    Read a calibration file written by `Calibration.save`.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.calibration import Calibration, read_calibration
    >>> path = os.path.join(tempfile.mkdtemp(), 'model.calibration.json')
    >>> _ = Calibration('temperature', 'probabilities', temperature=1.5).save(path)
    >>> read_calibration(path).temperature
    1.5
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        msg = f'calibration file {path!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        d = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f'{path!r} is not a calibration file (JSON): {exc}'
        raise ValueError(msg) from exc
    try:
        return Calibration.from_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        msg = f'{path!r}: {exc}'
        raise ValueError(msg) from exc


# ----------------------------------------------------------------------------
# Fitting

def _nll_of(z, index):
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(z)), index]))


def _fit_temperature(z, index):
    from scipy import optimize  # imported on use: it is slow to import

    def loss(log_t):
        return _nll_of(z / np.exp(log_t), index)

    lo, hi = np.log(_T_BOUNDS[0]), np.log(_T_BOUNDS[1])
    res = optimize.minimize_scalar(loss, bounds=(lo, hi), method='bounded',
                                   options={'xatol': 1e-10, 'maxiter': 500})
    # An optimum at (or a flat run of the likelihood to) an end of the range
    # means the data cannot fix a temperature.
    best = loss(res.x)
    tol = 1e-12 * max(1.0, abs(best))
    small, large = loss(lo) <= best + tol, loss(hi) <= best + tol
    if small or large:
        why = ('(the scores carry no information on the labels)' if large
               else '(every one is classified correctly: add objects the model gets wrong)')
        msg = (f'the likelihood keeps rising as the temperature gets '
               f'{"large" if large else "small"}: the labelled objects cannot measure a '
               f'calibration {why}')
        raise ValueError(msg)
    return float(np.exp(res.x))


def _fit_vector(z, index, start_temperature):
    from scipy import optimize  # imported on use: it is slow to import

    n, k = z.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), index] = 1.0

    def loss(theta):
        a = z * theta[:k] + theta[k:]
        s = softmax(a, axis=1)
        value = np.mean(logsumexp(a, axis=1) - a[np.arange(n), index])
        diff = (s - onehot) / n
        return value, np.concatenate([np.sum(diff * z, axis=0), np.sum(diff, axis=0)])

    theta0 = np.concatenate([np.full(k, 1.0 / start_temperature), np.zeros(k)])
    res = optimize.minimize(loss, theta0, jac=True, method='L-BFGS-B',
                            options={'maxiter': 2000, 'gtol': 1e-9})
    if not res.success:
        msg = (f'vector scaling did not converge ({res.message}); use '
               f"method='temperature' or more labelled objects")
        raise ValueError(msg)
    scale, bias = res.x[:k], res.x[k:]
    return scale, bias - bias.mean()


def _class_counts(index, cats):
    return {str(int(c)): int(np.sum(index == j)) for j, c in enumerate(cats)}


def fit_temperature(scores, labels, *, kind='logits', method='temperature',
                    categories=CLASSES, models=None, data=None):
    """
    Fit temperature scaling (or vector scaling) to labelled scores.

    The temperature ``T`` minimises the negative log-likelihood of the
    labels under ``softmax(z / T)`` (Guo et al. 2017), where ``z`` are
    the logits or the logarithms of the probabilities; ``T > 1`` softens
    an over-confident classifier, ``T < 1`` sharpens an under-confident
    one. ``method='vector'`` fits ``softmax(scale * z + bias)`` instead
    (a scale and a bias per class; it can change the most probable class).

    Parameters
    ----------
    scores : array-like, shape ``(N, K)``
        Logits or probabilities of N labelled objects, columns in
        ``categories`` order.
    labels : array-like, shape ``(N,)``
        Their true classes (1-4).
    kind : {'logits', 'probabilities'}, optional
        What ``scores`` are.
    method : {'temperature', 'vector'}, optional
    categories : sequence of int, optional
        The classes of the columns.
    models : sequence of str, optional
        SHA-256 of the models whose outputs these are (recorded; see
        `Calibration`).
    data : dict, optional
        A description of the labelled objects, recorded in ``fit``.

    Returns
    -------
    calibration : `Calibration`
        With ``.temperature`` (temperature scaling) and ``.apply``; ``fit``
        holds the scores before and after on the fitting data.

    Raises
    ------
    ValueError
        For mismatched lengths, labels outside ``categories``, NaN rows,
        probabilities that do not sum to one, labels of a single class,
        vector scaling without every class among the labels, or a fit that
        runs to the edge of the temperatures (all objects correct, or no
        information).

    Examples
    --------
    Labels drawn from ``softmax(logits)``, and the logits made three times too
    sharp: the fit finds the factor back.

    >>> import numpy as np
    >>> from astro_clusterclass.calibration import fit_temperature
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(20000, 4)) * 2
    >>> p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    >>> labels = 1 + np.argmax(rng.random((20000, 1)) < p.cumsum(1), axis=1)  # drawn from p
    >>> cal = fit_temperature(3 * logits, labels)
    >>> round(cal.temperature, 2)     # 3 within the noise of 20 000 labels
    3.07
    >>> cal.fit['after']['nll'] < cal.fit['before']['nll']
    True
    """
    check_choice(method, CALIBRATION_METHODS, 'method')
    cats = check_categories(categories)
    z = check_scores(scores, cats.size, kind=kind)
    index = check_labels(labels, cats)
    check_pair(z, index, parameter='scores')
    present = np.unique(index)
    if present.size < 2:
        msg = (f'labels hold one class only ({int(cats[present[0]])}); a calibration needs '
               f'labelled objects of at least two classes')
        raise ValueError(msg)
    if method == 'vector' and present.size < cats.size:
        missing = sorted(set(cats.tolist()) - set(cats[present].tolist()))
        msg = (f"method='vector' fits a bias per class and needs every class among the "
               f"labels; classes {missing} are missing (use method='temperature')")
        raise ValueError(msg)
    temperature = _fit_temperature(z, index)
    if method == 'temperature':
        cal = Calibration('temperature', kind, temperature=temperature, categories=cats)
    else:
        scale, bias = _fit_vector(z, index, temperature)
        cal = Calibration('vector', kind, scale=scale, bias=bias, categories=cats)
    before = calibration_scores(softmax(z, axis=1), cats[index], categories=cats)
    after = calibration_scores(cal.apply(z, kind='logits') if method == 'temperature'
                               else softmax(cal._transform(z), axis=1),
                               cats[index], categories=cats)
    step = provenance('fit_temperature', {'kind': kind, 'method': method})
    fit = {'n': int(len(z)), 'class_counts': _class_counts(index, cats),
           'objective': 'negative log-likelihood', 'before': before, 'after': after,
           'scores_on': 'fitting data (in-sample)', 'data': data or {},
           'date': step['date'], 'version': step['version']}
    return replace(cal, models=None if models is None else tuple(models), fit=fit)


def probabilities_from_table(tbl, *, categories=CLASSES):
    """
    The ensemble probabilities ``prob_<k>`` of a classified table as an array.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        A table from `~astro_clusterclass.classify.classify_table`.
    categories : sequence of int, optional

    Returns
    -------
    probabilities : `~numpy.ndarray`
        ``(N, K)`` float64, NaN on rows that were not classified (masked).

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import MaskedColumn, QTable
    >>> from astro_clusterclass.calibration import probabilities_from_table
    >>> tbl = QTable({f'prob_{k}': MaskedColumn([0.25, 0.0], mask=[False, True])
    ...               for k in (1, 2, 3, 4)})
    >>> probabilities_from_table(tbl).tolist()
    [[0.25, 0.25, 0.25, 0.25], [nan, nan, nan, nan]]
    """
    names = [f'prob_{int(k)}' for k in check_categories(categories)]
    require_columns(tbl, names, parameter='tbl')
    return np.stack([np.ma.filled(np.ma.asarray(tbl[name], dtype=float), np.nan)
                     for name in names], axis=1)


def _table_models(tbl):
    """SHA-256 of the models that classified ``tbl`` (None if unknown or incomplete)."""
    models = (tbl.meta.get('classification') or {}).get('models') or []
    shas = [m.get('sha256') for m in models]
    return tuple(shas) if shas and all(shas) else None


def fit_calibration(tbl, *, label_column='class', method='temperature', unknown_labels='error',
                    description=None):
    """
    Fit a calibration of an ensemble on a classified, labelled table.

    The ensemble's mean probabilities (``prob_1`` ... ``prob_4``) are
    calibrated as a whole (``kind='probabilities'``); for one model this
    is the same as scaling its logits.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Output of `~astro_clusterclass.classify.classify_table` (without
        calibration) with a column of true classes.
    label_column : str, optional
        The labels (1-4).
    method : {'temperature', 'vector'}, optional
    unknown_labels : {'error', 'drop'}, optional
        Rows whose label is masked or not 1-4 (LEGUS 0, "not inspected"):
        refused, or left out and counted in ``fit['data']``.
    description : str, optional
        What the labelled objects are (default: ``tbl.meta['file']`` if set).

    Returns
    -------
    calibration : `Calibration`
        Recording the models' SHA-256 from ``tbl.meta['classification']``.
        Rows that were not classified (masked probabilities) are left out
        and counted in ``fit['data']['n_unclassified']``.

    Raises
    ------
    ValueError
        If columns are missing, ``tbl`` holds calibrated probabilities, or
        as `fit_temperature`.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.calibration import fit_calibration
    >>> tbl = QTable({'prob_1': [0.9, 0.9, 0.8, 0.2], 'prob_2': [0.1, 0.1, 0.2, 0.8],
    ...               'prob_3': [0.0] * 4, 'prob_4': [0.0] * 4, 'class': [1, 2, 1, 2]})
    >>> cal = fit_calibration(tbl)
    >>> cal.temperature > 1, cal.fit['data']['n_used']
    (True, 4)
    """
    check_choice(unknown_labels, ('error', 'drop'), 'unknown_labels')
    require_columns(tbl, [label_column], parameter='label_column')
    step = tbl.meta.get('classification') or {}
    if step.get('calibration'):
        msg = ('tbl holds calibrated probabilities (meta[\'classification\'][\'calibration\']); '
               'classify without calibration to fit one')
        raise ValueError(msg)
    prob = probabilities_from_table(tbl)
    classified = np.isfinite(prob).all(axis=1)
    labels = np.ma.masked_invalid(np.ma.asarray(tbl[label_column], dtype=float))
    labelled = ~np.ma.getmaskarray(labels) & np.isin(labels.filled(0), CLASSES)
    if unknown_labels == 'error' and np.any(classified & ~labelled):
        msg = (f'label_column {label_column!r} has {int(np.sum(classified & ~labelled))} '
               f'classified row(s) without a class 1-4 (masked, NaN, LEGUS 0 or other '
               f'values); pass unknown_labels=\'drop\' to leave them out')
        raise ValueError(msg)
    use = classified & labelled
    data = {'description': description if description is not None else tbl.meta.get('file'),
            'label_column': label_column, 'n_rows': len(tbl),
            'n_unclassified': int(np.sum(~classified)),
            'n_unlabelled': int(np.sum(classified & ~labelled)), 'n_used': int(np.sum(use))}
    return fit_temperature(prob[use], labels[use].filled(0), kind='probabilities', method=method,
                           models=_table_models(tbl), data=data)


# ----------------------------------------------------------------------------
# Stored calibrations

def stored_calibration(metas):
    """
    The calibration stored with a model or an ensemble, and where it was found.

    Looked for, in order:

    1. one model whose checkpoint metadata has a ``'calibration'`` entry
       (`Calibration.to_dict`); it belongs to the weights it travels with;
    2. files ``*.calibration.json`` in the folders of the members'
       checkpoints whose ``models`` are the members' SHA-256, in order.

    Parameters
    ----------
    metas : list of dict
        The members' metadata (``Ensemble.metas``: ``sha256``, ``source``).

    Returns
    -------
    calibration : `Calibration` or None
    where : str or None
        The checkpoint or file it came from.

    Raises
    ------
    ValueError
        If several files match (the message lists them).
    """
    shas = tuple(m.get('sha256') for m in metas)
    if len(metas) == 1 and metas[0].get('calibration'):
        cal = Calibration.from_dict(metas[0]['calibration'])
        where = metas[0].get('source') or metas[0].get('weights') or 'the model'
        return cal.for_models(shas if all(shas) else None), f'checkpoint metadata of {where}'
    if not all(shas):
        return None, None
    folders = []
    for meta in metas:
        source = meta.get('source')
        if source and os.path.isfile(source):
            folder = os.path.dirname(os.path.abspath(source))
            if folder not in folders:
                folders.append(folder)
    found = []
    for folder in folders:
        for path in sorted(Path(folder).glob(f'*{CALIBRATION_SUFFIX}')):
            try:
                cal = read_calibration(path)
            except ValueError:
                continue
            if cal.models == shas:
                found.append((cal, str(path)))
    if len(found) > 1:
        msg = (f'several calibration files match these models: {[p for _, p in found]}; '
               f'pass one as calibration=<path>')
        raise ValueError(msg)
    return found[0] if found else (None, None)

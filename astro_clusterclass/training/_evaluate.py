"""
Accuracy of a model or an ensemble against labels, in the paper's terms.

Per-class accuracy is the fraction of the objects labelled k that the
classifier puts in k (the recall, ``fraction_a`` of
`~astro_clusterclass.compare.agreement_fractions` with the labels as A);
the paper-style agreement fraction f_k averages it with the fraction of
the objects the classifier puts in k that are labelled k (Whitmore et al.
2021, §4). Class 1+2 is scored as one class.
"""

from dataclasses import dataclass

import numpy as np
from astropy.table import QTable

from .._utils.columns import require_columns
from ..classes import CLASSES, validate_classes
from ..classify import classify_table
from ..compare.agreement import agreement_fractions, confusion_matrix
from ..tables import check_table
from ._data import _check_labels

__all__ = ['Evaluation', 'evaluate_classes', 'evaluate']

#: Human-human agreement of the paper (Whitmore et al. 2021, Table 1 and
#: §4.1): the yardstick for machine accuracies.
HUMAN_AGREEMENT = {'1': 0.80, '2': 0.54, '3': 0.56, '4': 0.64, '1+2': 0.82}


@dataclass
class Evaluation:
    """
    Scores of a classifier against labels.

    Attributes
    ----------
    per_class : `~astropy.table.QTable`
        Rows ``'1'`` … ``'4'``, ``'mean'``, ``'1+2'``; columns ``class``,
        ``n_true``, ``n_predicted``, ``n_both``, ``accuracy`` (n_both /
        n_true), ``precision`` (n_both / n_predicted), ``agreement`` (f_k
        of `~astro_clusterclass.compare.agreement_fractions` on the objects
        that have a prediction: the paper compares objects both
        classifications put in a class) and ``agreement_err``.
    confusion : `~astropy.table.QTable`
        Counts: rows are the labels (``class_a``), columns the predicted
        classes (``class_b_<k>``).
    accuracy : float
        Fraction of all objects classified as labelled.
    mean_class_accuracy : float
        Mean of the four per-class accuracies.
    cluster_accuracy : float
        Class 1+2 as one class: fraction of the objects labelled 1 or 2
        that are classified 1 or 2.
    n : int
        Objects scored.
    n_unclassified : int
        Objects without a prediction (flagged stamps); they count as wrong
        and are not in ``confusion``.

    Examples
    --------
    Made by `~astro_clusterclass.training.evaluate_classes` and
    `~astro_clusterclass.training.evaluate`:

    >>> from astro_clusterclass.training import evaluate_classes
    >>> ev = evaluate_classes([1, 1, 2, 2, 3, 4, 4, 4], [1, 2, 2, 2, 3, 4, 4, 3])
    >>> ev.n, ev.accuracy, ev.cluster_accuracy
    (8, 0.75, 1.0)
    >>> ev.per_class['class', 'n_true', 'accuracy'][:4].pprint()
    class n_true      accuracy
    ----- ------ ------------------
        1      2                0.5
        2      2                1.0
        3      1                1.0
        4      3 0.6666666666666666
    """

    per_class: QTable
    confusion: QTable
    accuracy: float
    mean_class_accuracy: float
    cluster_accuracy: float
    n: int
    n_unclassified: int = 0

    def to_dict(self):
        """JSON-serialisable summary (stored in checkpoint metadata)."""
        rows = {str(r['class']): {'accuracy': _num(r['accuracy']),
                                  'precision': _num(r['precision']),
                                  'agreement': _num(r['agreement']),
                                  'n_true': _num(r['n_true'])}
                for r in self.per_class}
        counts = [[int(self.confusion[f'class_b_{k}'][i]) for k in CLASSES]
                  for i in range(len(CLASSES))]
        return {'n': self.n, 'n_unclassified': self.n_unclassified, 'accuracy': self.accuracy,
                'mean_class_accuracy': self.mean_class_accuracy,
                'cluster_accuracy': self.cluster_accuracy, 'per_class': rows,
                'confusion_matrix': counts, 'confusion_matrix_axes': 'rows: label 1-4, '
                'columns: predicted 1-4'}

    def __str__(self):
        lines = [f'{self.n} objects ({self.n_unclassified} unclassified); accuracy '
                 f'{self.accuracy:.3f}, mean of classes {self.mean_class_accuracy:.3f}, '
                 f'class 1+2 {self.cluster_accuracy:.3f}',
                 'class  n_true  accuracy  precision  agreement  (humans)']
        for r in self.per_class:
            label = str(r['class'])
            human = HUMAN_AGREEMENT.get(label)
            lines.append(f'{label:>5}  {_show(r["n_true"], "d"):>6}  '
                         f'{_show(r["accuracy"]):>8}  {_show(r["precision"]):>9}  '
                         f'{_show(r["agreement"]):>9}  '
                         f'{"" if human is None else f"({human:.2f})"}'.rstrip())
        lines.append('confusion (rows: label, columns: predicted 1-4)')
        for i, k in enumerate(CLASSES):
            cells = ' '.join(f'{int(self.confusion[f"class_b_{j}"][i]):6d}' for j in CLASSES)
            lines.append(f'{k:>5} {cells}')
        return '\n'.join(lines)


def _num(value):
    value = np.ma.filled(value, np.nan)
    value = float(value)
    return None if not np.isfinite(value) else (int(value) if value.is_integer() and
                                                abs(value) > 1 else value)


def _show(value, fmt='.3f'):
    value = np.ma.filled(value, np.nan)
    return '--' if not np.isfinite(float(value)) else format(
        int(value) if fmt == 'd' else float(value), fmt)


def evaluate_classes(labels, predicted):
    """
    Score predicted classes against labels.

    Parameters
    ----------
    labels, predicted : array-like
        Classes 1-4 of the same objects (labels are taken as the truth).
        Masked or unclassified predictions (0, masked) count as wrong.

    Returns
    -------
    evaluation : `~astro_clusterclass.training.Evaluation`

    Examples
    --------
    >>> from astro_clusterclass.training import evaluate_classes
    >>> ev = evaluate_classes([1, 1, 2, 2, 3, 4, 4, 4], [1, 2, 2, 2, 3, 4, 4, 3])
    >>> ev.accuracy, ev.cluster_accuracy
    (0.75, 1.0)
    >>> [round(float(a), 3) for a in ev.per_class['accuracy'][:4]]
    [0.5, 1.0, 1.0, 0.667]
    """
    truth = validate_classes(labels, allow_zero=False, parameter='labels')
    if np.ma.getmaskarray(truth).any():
        msg = 'labels must not be masked: every scored object needs a class'
        raise ValueError(msg)
    pred = np.ma.filled(validate_classes(predicted, parameter='predicted'), 0)
    if pred.shape != truth.shape:
        msg = f'labels has {truth.shape[0]} entries but predicted {pred.shape[0]}'
        raise ValueError(msg)
    truth = np.asarray(truth)
    tbl = QTable({'label': truth, 'predicted': pred})
    frac = agreement_fractions(tbl, 'label', 'predicted')
    # Unclassified objects (0) are outside the compared classes there, but
    # count against the accuracy here.
    per_class = QTable()
    per_class['class'] = frac['class']
    n_true = np.array([np.sum(truth == k) for k in CLASSES]
                      + [0, np.sum(np.isin(truth, (1, 2)))])
    per_class['n_true'] = np.ma.MaskedArray(n_true, mask=frac['n_a'].mask)
    per_class['n_predicted'] = frac['n_b']
    per_class['n_both'] = frac['n_both']
    with np.errstate(invalid='ignore', divide='ignore'):
        accuracy = np.ma.MaskedArray(frac['n_both'].filled(0) / np.maximum(n_true, 1),
                                     mask=frac['n_a'].mask | (n_true == 0))
    per_class['accuracy'] = accuracy
    per_class['precision'] = frac['fraction_b']
    per_class['agreement'] = frac['fraction']
    per_class['agreement_err'] = frac['fraction_err']
    class_acc = np.array([float(accuracy[i]) if not accuracy.mask[i] else np.nan
                          for i in range(len(CLASSES))])
    per_class['accuracy'][len(CLASSES)] = np.nanmean(class_acc)
    per_class['accuracy'].mask[len(CLASSES)] = False
    classified = pred > 0
    counts = confusion_matrix(QTable({'a': truth[classified], 'b': pred[classified]}), 'a', 'b',
                              normalize=None)
    n = len(truth)
    in_cluster = np.isin(truth, (1, 2))
    cluster = float(np.mean(np.isin(pred[in_cluster], (1, 2)))) if in_cluster.any() else np.nan
    return Evaluation(per_class=per_class, confusion=counts,
                      accuracy=float(np.mean(truth == pred)) if n else np.nan,
                      mean_class_accuracy=float(np.nanmean(class_acc)), cluster_accuracy=cluster,
                      n=n, n_unclassified=int((~classified).sum()))


def evaluate(models, tbl, images, *, label_column='class', unknown_labels='error',
             **classify_kwargs):
    """
    Classify a labelled table and score the result against its labels.

    Runs `~astro_clusterclass.classify.classify_table` (the path users
    run), then `~astro_clusterclass.training.evaluate_classes` on its
    ``class_mode`` (the ensemble mode; a single model's class for one model).

    Parameters
    ----------
    models : model source or list of them
        As ``models`` of `~astro_clusterclass.classify_table`.
    tbl : `~astropy.table.Table`
        Candidates with positions and labels.
    images : any input of `~astro_clusterclass.load_images`
    label_column : str, optional
        Column with the labels (classes 1-4).
    unknown_labels : {'error', 'drop'}, optional
        Rows whose label is outside 1-4 raise an error or are not scored.
    **classify_kwargs
        Passed to `~astro_clusterclass.classify_table` (``batch_size``,
        ``precision``, ``progress``...).

    Returns
    -------
    evaluation : `~astro_clusterclass.training.Evaluation`
        Unclassified rows (flagged stamps) count as wrong.
    classified : `~astropy.table.QTable`
        The output of `~astro_clusterclass.classify.classify_table`.

    Examples
    --------
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.training import evaluate
    >>> field = make_cluster_field((300, 300), 30, seed=2)
    >>> evaluation, classified = evaluate('CompactNet_Weights.DEFAULT', field.labelled_candidates(),
    ...                                   field.images, precision='fp32', progress=False)
    >>> evaluation.n, evaluation.n_unclassified, len(classified)
    (30, 1, 30)
    >>> round(evaluation.accuracy, 2)
    0.9
    """
    check_table(tbl)
    require_columns(tbl, [label_column], parameter='label_column')
    labels, usable = _check_labels(tbl[label_column], unknown_labels,
                                   f'label column {label_column!r}')
    out = classify_table(tbl, images, models=models, **classify_kwargs)
    predicted = np.ma.filled(out['class_mode'], 0)
    return evaluate_classes(labels[usable], np.asarray(predicted)[usable]), out

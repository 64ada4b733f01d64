"""Reliability diagrams: accuracy against confidence (Guo et al. 2017, Figure 1)."""

import numpy as np

from ..tables import check_table
from ._axes import new_axes

__all__ = ['plot_reliability_diagram']

_CURVE_COLUMNS = ('bin_lower', 'bin_upper', 'n', 'confidence', 'accuracy')


def _curves(curves):
    if not hasattr(curves, 'items') or hasattr(curves, 'colnames'):
        curves = {None: curves}
    for tbl in curves.values():
        check_table(tbl, parameter='curves')
        missing = [c for c in _CURVE_COLUMNS if c not in tbl.colnames]
        if missing:
            msg = ('curves must be tables from astro_clusterclass.calibration.'
                   f'reliability_curve; missing columns {missing}')
            raise ValueError(msg)
    return curves


def plot_reliability_diagram(curves, *, ax=None, title=None, counts=True, show_ece=True):
    """
    Accuracy against mean confidence in bins of the top probability.

    A calibrated classifier lies on the diagonal; points below it are
    over-confident.

    Parameters
    ----------
    curves : `~astropy.table.QTable` or mapping
        Output of `~astro_clusterclass.calibration.reliability_curve`, or a
        mapping label → such table (e.g. before and after calibration).
    ax : `~matplotlib.axes.Axes`, optional
        Axes to draw in.
    title : str, optional
    counts : bool, optional
        Draw the fraction of objects in each bin as bars (right-hand axis,
        first curve).
    show_ece : bool, optional
        Put each curve's expected calibration error in its legend label.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        Points at the mean confidence of each non-empty bin with binomial
        error bars ``sqrt(a (1 - a) / n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from astro_clusterclass.calibration import reliability_curve
    >>> from astro_clusterclass.visualization import plot_reliability_diagram
    >>> rng = np.random.default_rng(0)
    >>> p = rng.dirichlet(np.ones(4) * 0.3, size=500)
    >>> labels = 1 + np.argmax(rng.random((500, 1)) < p.cumsum(1), axis=1)
    >>> ax = plot_reliability_diagram({'model': reliability_curve(p, labels)},
    ...                               ax=Figure().add_subplot())
    >>> ax.get_xlabel(), ax.get_legend().get_texts()[1].get_text().startswith('model (ECE')
    ('confidence (top probability)', True)
    """
    curves = _curves(curves)
    ax = new_axes(ax)
    ax.plot([0, 1], [0, 1], color='0.6', lw=1, ls='--', label='calibrated')
    for i, (label, curve) in enumerate(curves.items()):
        n = np.asarray(curve['n'], dtype=float)
        used = n > 0
        conf = np.asarray(curve['confidence'], dtype=float)[used]
        acc = np.asarray(curve['accuracy'], dtype=float)[used]
        err = np.sqrt(acc * (1 - acc) / n[used])
        text = label or 'classifier'
        if show_ece:
            ece = np.sum(n[used] / n.sum() * np.abs(acc - conf))
            text = f'{text} (ECE {ece:.3f})'
        ax.errorbar(conf, acc, yerr=err, marker='o', ms=4, capsize=2, lw=1.2, label=text)
        if counts and i == 0:
            share = ax.twinx()
            lower = np.asarray(curve['bin_lower'], dtype=float)
            width = np.asarray(curve['bin_upper'], dtype=float) - lower
            share.bar(lower, n / n.sum(), width=width, align='edge', color='0.85', zorder=0)
            share.set_ylim(0, 1)
            share.set_ylabel('fraction of objects', color='0.5')
            ax.set_zorder(share.get_zorder() + 1)
            ax.patch.set_visible(False)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('confidence (top probability)')
    ax.set_ylabel('accuracy')
    ax.legend(loc='upper left', fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax

"""Agreement fractions against a property (the paper's Figures 6-8)."""

import numpy as np

from ..tables import check_table
from ._axes import new_figure

__all__ = ['plot_agreement_vs_property']

_PANELS = ('1', '2', '3', '4', 'mean', '1+2')


def plot_agreement_vs_property(trends, *, panels=_PANELS, ncols=3, xlabel=None,
                               panel_size=3.0):
    """
    Agreement fraction against a property, one panel per class.

    Parameters
    ----------
    trends : `~astropy.table.QTable` or mapping
        Output of `~astro_clusterclass.compare.agreement_vs_property`, or a
        mapping label → such table to compare several pairs of methods
        (one symbol each).
    panels : sequence of str, optional
        Classes shown, among ``'1'`` … ``'4'``, ``'mean'`` and ``'1+2'``.
    ncols : int, optional
        Panels per row.
    xlabel : str, optional
        x-axis label (default: the property name).
    panel_size : float, optional
        Panel size in inches.

    Returns
    -------
    fig : `~matplotlib.figure.Figure`
        Points at the median of each bin with binomial error bars; the
        horizontal bars show the bin ranges.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import agreement_vs_property
    >>> from astro_clusterclass.visualization import plot_agreement_vs_property
    >>> rng = np.random.default_rng(0)
    >>> tbl = QTable({'a': rng.integers(1, 5, 400), 'mag': rng.uniform(20, 24, 400)})
    >>> tbl['b'] = np.where(rng.uniform(size=400) < 0.7, tbl['a'], rng.integers(1, 5, 400))
    >>> trend = agreement_vs_property(tbl, 'a', 'b', 'mag', n_bins=4)
    >>> fig = plot_agreement_vs_property({'a vs b': trend}, xlabel='V (mag)')
    >>> len(fig.axes), fig.axes[0].get_title()
    (6, 'class 1')
    >>> plt.close(fig)
    """
    if not hasattr(trends, 'items') or hasattr(trends, 'colnames'):
        trends = {None: trends}
    for tbl in trends.values():
        check_table(tbl, parameter='trends')
    name = next(iter(trends.values())).meta.get('property', 'value')
    ncols = max(1, min(int(ncols), len(panels)))
    nrows = -(-len(panels) // ncols)
    fig = new_figure(figsize=(panel_size * ncols, panel_size * nrows), layout='constrained')
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    markers = 'osD^vP*X'
    for ax, label in zip(axes.flat, panels):
        for k, (key, tbl) in enumerate(trends.items()):
            column = f'fraction_{label}'
            if column not in tbl.colnames:
                msg = (f'trends has no column {column!r}; panels must be among the '
                       f'classes compared')
                raise ValueError(msg)
            x = np.asarray(tbl[f'{name}_median'], dtype=float)
            lo = x - np.asarray(tbl[f'{name}_min'], dtype=float)
            hi = np.asarray(tbl[f'{name}_max'], dtype=float) - x
            ax.errorbar(x, np.asarray(tbl[column], dtype=float), xerr=[lo, hi],
                        yerr=np.asarray(tbl[f'fraction_err_{label}'], dtype=float),
                        fmt=markers[k % len(markers)] + '-', ms=4, capsize=2, lw=1,
                        label=key)
        ax.set_title('mean of classes' if label == 'mean' else f'class {label}', fontsize=10)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel or name)
    for ax in axes[:, 0]:
        ax.set_ylabel('agreement fraction')
    if None not in trends:
        axes.flat[0].legend(fontsize=7)
    return fig

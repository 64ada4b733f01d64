"""Confusion matrices as annotated images."""

import numpy as np

from ..tables import check_table
from ._axes import new_axes, new_figure

__all__ = ['plot_confusion_matrix', 'plot_confusion_grid']


def _matrix(tbl):
    check_table(tbl, parameter='matrix')
    if 'class_a' not in tbl.colnames:
        msg = ('matrix must be a table from astro_clusterclass.compare.confusion_matrix '
               f"(first column 'class_a'); got columns {tbl.colnames}")
        raise ValueError(msg)
    names = [c for c in tbl.colnames if c.startswith('class_b_')]
    rows = [str(v) for v in tbl['class_a']]
    cols = [c[len('class_b_'):] for c in names]
    values = np.array([np.asarray(tbl[c], dtype=float) for c in names]).T
    return values, rows, cols


def plot_confusion_matrix(matrix, *, ax=None, title=None, label_a=None, label_b=None,
                          cmap='Blues', percent=None, colorbar=False):
    """
    Draw one confusion matrix with the value in every cell.

    Parameters
    ----------
    matrix : `~astropy.table.QTable`
        Output of `~astro_clusterclass.compare.confusion_matrix`.
    ax : `~matplotlib.axes.Axes`, optional
        Axes to draw in.
    title : str, optional
        Axes title.
    label_a, label_b : str, optional
        Axis labels (default: the class columns recorded in ``matrix.meta``).
        A's classes run down the y axis, B's along the x axis.
    cmap : str, optional
        Colour map; the scale runs from 0 to 1 for fractions.
    percent : bool, optional
        Write fractions as percentages (default: unless the matrix holds counts).
    colorbar : bool, optional
        Add a colour bar.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from matplotlib.figure import Figure
    >>> from astro_clusterclass.compare import confusion_matrix
    >>> from astro_clusterclass.visualization import plot_confusion_matrix
    >>> tbl = QTable({'human': [1, 1, 2, 2, 3, 4, 4, 4], 'ml': [1, 2, 2, 2, 3, 4, 4, 3]})
    >>> ax = plot_confusion_matrix(confusion_matrix(tbl, 'human', 'ml'), title='human vs ML',
    ...                            ax=Figure().add_subplot())
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('class (ml)', 'class (human)')
    """
    values, rows, cols = _matrix(matrix)
    counts = matrix.meta.get('normalize', 'mean') is None
    percent = (not counts) if percent is None else percent
    ax = new_axes(ax)
    vmax = np.nanmax(values) if counts and np.isfinite(values).any() else 1.0
    image = ax.imshow(values, cmap=cmap, vmin=0, vmax=vmax or 1.0, origin='upper')
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            text = ('–' if not np.isfinite(v) else f'{100 * v:.0f}' if percent
                    else f'{v:g}')
            dark = np.isfinite(v) and v > 0.6 * vmax
            ax.text(j, i, text, ha='center', va='center', fontsize=9,
                    color='white' if dark else 'black')
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(label_b or f"class ({matrix.meta.get('column_b', 'B')})")
    ax.set_ylabel(label_a or f"class ({matrix.meta.get('column_a', 'A')})")
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return ax


def plot_confusion_grid(matrices, *, titles=None, ncols=3, panel_size=3.0, **kwargs):
    """
    Draw several confusion matrices in a grid (like the paper's Figure 21).

    Parameters
    ----------
    matrices : sequence or mapping of `~astropy.table.QTable`
        Outputs of `~astro_clusterclass.compare.confusion_matrix`; a mapping
        gives the titles by its keys.
    titles : sequence of str, optional
        Panel titles (for a sequence).
    ncols : int, optional
        Panels per row.
    panel_size : float, optional
        Size of a panel in inches.
    **kwargs
        Passed to `plot_confusion_matrix`.

    Returns
    -------
    fig : `~matplotlib.figure.Figure`

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.compare import confusion_matrix
    >>> from astro_clusterclass.visualization import plot_confusion_grid
    >>> tbl = QTable({'human': [1, 1, 2, 2, 3, 4, 4, 4], 'ml': [1, 2, 2, 2, 3, 4, 4, 3]})
    >>> fig = plot_confusion_grid({'no truth': confusion_matrix(tbl, 'human', 'ml'),
    ...                            'counts': confusion_matrix(tbl, 'human', 'ml', normalize=None)})
    >>> [ax.get_title() for ax in fig.axes]
    ['no truth', 'counts']
    >>> plt.close(fig)
    """
    if hasattr(matrices, 'items'):
        titles, matrices = list(matrices.keys()), list(matrices.values())
    matrices = list(matrices)
    if not matrices:
        msg = 'matrices is empty: nothing to plot'
        raise ValueError(msg)
    titles = list(titles) if titles is not None else [None] * len(matrices)
    if len(titles) != len(matrices):
        msg = f'titles has {len(titles)} entries for {len(matrices)} matrices'
        raise ValueError(msg)
    ncols = max(1, min(int(ncols), len(matrices)))
    nrows = -(-len(matrices) // ncols)
    fig = new_figure(figsize=(panel_size * ncols, panel_size * nrows), layout='constrained')
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, matrix, title in zip(axes.flat, matrices, titles):
        plot_confusion_matrix(matrix, ax=ax, title=title, **kwargs)
    for ax in axes.flat[len(matrices):]:
        ax.set_visible(False)
    return fig

"""The figures of a comparison report (those ``clusterclass compare`` writes)."""

import os

from .._utils.files import atomic_path, check_output
from ..compare import CatalogComparison
from .agreement import plot_agreement_vs_property
from .color_color import plot_color_color
from .confusion import plot_confusion_grid

__all__ = ['plot_comparison']


def _file_part(name):
    """``name`` with every character other than letters, digits, '-' and '_' as '_'."""
    return ''.join(c if c.isalnum() or c in '-_' else '_' for c in name)


def _figure_makers(comparison, track):
    """File name → function drawing that figure, for every figure of the report."""
    explicit = track is not None and track is not False
    if track is None:
        from ..datasets import bc03_track
        track = bc03_track()
    elif track is False:
        track = None
    a, b = comparison.name_a, comparison.name_b
    titles = {'counts': 'counts', 'mean': 'no ground truth (mean)',
              'truth_a': f'{a} as truth', 'truth_b': f'{b} as truth'}
    makers = {'confusion.png': lambda: plot_confusion_grid(
        {titles[k]: v for k, v in comparison.confusion.items()}, ncols=2,
        label_a=f'{a} class', label_b=f'{b} class')}
    for prop, trend in comparison.trends.items():
        makers[f'agreement_vs_{prop}.png'] = (
            lambda trend=trend: plot_agreement_vs_property({f'{a} vs {b}': trend}))
    if comparison.distance_modulus is None and not explicit:
        return makers
    for name, (tbl, column) in comparison.catalogs.items():
        bright = comparison.bright_objects(name)
        shown = tbl if bright is None else bright
        title = name if bright is None else f'{name}, M_V < {comparison.mv_limit:g}'
        makers[f'color_color_{_file_part(name)}.png'] = (
            lambda shown=shown, column=column, title=title: plot_color_color(
                shown, class_column=column, classes=(1, 2, 3), track=track,
                title=title).figure)
    return makers


def plot_comparison(comparison, *, track=None, output_dir=None, overwrite=False, dpi=100):
    """
    Draw the figures of a comparison report, and optionally write them as PNG files.

    Parameters
    ----------
    comparison : `~astro_clusterclass.compare.CatalogComparison`
        The result of `~astro_clusterclass.compare.compare_catalogs`.
    track : `~astropy.table.QTable`, None or False, optional
        Model track drawn in the colour-colour diagrams: None (default)
        draws the BC03 solar track shipped with the package
        (`~astro_clusterclass.datasets.bc03_track`), a table draws that
        track (see `~astro_clusterclass.io.read_bc03_track`), False draws
        none.
    output_dir : str or path-like, optional
        Write every figure there as PNG (the folder is created if needed).
        Every file is checked before any is written, and each is written
        atomically.
    overwrite : bool, optional
        Replace existing files in ``output_dir``.
    dpi : float, optional
        Resolution of the PNG files.

    Returns
    -------
    figures : dict
        File name → `~matplotlib.figure.Figure`: ``confusion.png`` (the
        four confusion matrices), ``agreement_vs_<property>.png`` (one per
        property of the comparison) and, when the comparison has a distance
        modulus or a ``track`` table is given, ``color_color_<name>.png``
        for each of the two classifications (classes 1-3, with the track,
        the reddening vector and the count of objects plotted; only the
        objects brighter than ``mv_limit`` when there is a distance
        modulus). With
        ``output_dir`` each figure is closed in pyplot once written, so
        that a report with many properties never keeps many figures open;
        without it the caller closes them.

    Raises
    ------
    TypeError
        If ``comparison`` is not a `~astro_clusterclass.compare.CatalogComparison`.
    FileExistsError
        If a file exists in ``output_dir`` and ``overwrite`` is False
        (nothing is written).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from astro_clusterclass.compare import compare_catalogs
    >>> from astro_clusterclass.datasets import make_cluster_field, relabel_classes
    >>> from astro_clusterclass.visualization import plot_comparison
    >>> truth = make_cluster_field((300, 300), 60, seed=1).truth
    >>> truth['class_second'] = relabel_classes(truth, seed=0)['class']
    >>> result = compare_catalogs(truth, class_column_a='class', class_column_b='class_second',
    ...                           name_a='truth', name_b='second', distance_modulus=30.0)
    >>> figures = plot_comparison(result)
    >>> sorted(figures)  # doctest: +NORMALIZE_WHITESPACE
    ['agreement_vs_mag_F555W.png', 'color_color_second.png', 'color_color_truth.png',
     'confusion.png']
    >>> for fig in figures.values():
    ...     plt.close(fig)

    With ``output_dir`` they are written as PNG files:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> figures = plot_comparison(result, output_dir=folder)
    >>> sorted(os.listdir(folder)) == sorted(figures)
    True
    """
    if not isinstance(comparison, CatalogComparison):
        msg = (f'comparison must be a CatalogComparison (from compare_catalogs), got '
               f'{type(comparison).__name__}')
        raise TypeError(msg)
    makers = _figure_makers(comparison, track)
    if output_dir is None:
        return {name: make() for name, make in makers.items()}
    output_dir = os.fspath(output_dir)
    paths = {name: os.path.join(output_dir, name) for name in makers}
    for path in paths.values():
        check_output(path, overwrite=overwrite, parameter='output_dir')
    os.makedirs(output_dir, exist_ok=True)
    import matplotlib.pyplot as plt

    figures = {}
    for name, make in makers.items():
        fig = make()
        with atomic_path(paths[name]) as tmp:
            fig.savefig(tmp, dpi=dpi)
        plt.close(fig)
        figures[name] = fig
    return figures

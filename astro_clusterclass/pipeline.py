"""
The main job, end to end: images and candidates in, a folder of results out.

`run_pipeline` classifies every candidate of a field and writes what an
astronomer looks at first: the classified catalogue (FITS and ECSV), a DS9
region file coloured by class, a colour-colour diagram with the age boxes
and the BC03 track, a stamp gallery per class and a text summary. Without
inputs it simulates a five-band field
(`~astro_clusterclass.datasets.make_cluster_field`) and, since the truth is
known, also scores the classification against it (confusion matrix and agreement fractions).
``clusterclass run`` is its command line.
"""

import os
import time

import astropy.units as u
import numpy as np

from ._utils.columns import require_columns
from ._utils.log import get_logger
from .bands import BANDS
from .classes import CLASSES, CLASS_NAMES
from .classify import classify_table
from .cutouts import make_cutouts
from .ds9 import write_ds9_regions
from .images import BandImages, load_images
from .io import write_table
from .photometry import candidate_photometry, zeropoints_from_photflam
from .tables import check_table, provenance

__all__ = ['run_pipeline', 'PipelineResult']


class PipelineResult(dict):
    """
    What `run_pipeline` made: a dict ``name → path`` with the results.

    Attributes
    ----------
    table : `~astropy.table.QTable`
        The classified catalogue (with photometry columns).
    evaluation : `~astro_clusterclass.training.Evaluation` or None
        Scores against the truth of a simulated field.
    summary : str
        The text of ``summary.txt``.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.pipeline import run_pipeline
    >>> result = run_pipeline(os.path.join(tempfile.mkdtemp(), 'demo'), shape=(300, 300),
    ...                       n_candidates=30, progress=False, plots=False)
    >>> os.path.basename(result['regions']), len(result.table)
    ('regions.reg', 30)
    >>> print(result.summary)  # doctest: +ELLIPSIS
    astro_clusterclass run
    ======================
    ...
    """

    table = None
    evaluation = None
    summary = ''


def _zeropoints(images):
    """Vega zeropoints from ZP_VEGA keywords (simulated/PHANGS), else AB from PHOTFLAM."""
    # load_images already collected the photometric keywords of every band.
    vega = {band: float(images.meta[band]['ZP_VEGA']) for band in BANDS
            if 'ZP_VEGA' in images.meta.get(band, {})}
    if len(vega) == len(BANDS):
        return vega, 'Vega (ZP_VEGA keywords)'
    try:
        return zeropoints_from_photflam(images, system='AB'), 'AB (PHOTFLAM/PHOTPLAM)'
    except (ValueError, KeyError):
        return None, 'instrumental (no zeropoints in the headers)'


_LOG = get_logger(__name__)


def _step(log, text):
    """Record a step in the summary and log it (the command line shows INFO on stderr)."""
    log.append(text)
    _LOG.info(text)


def _plots(classified, images, truth_column, output, files, log, evaluation, seed):
    """Colour-colour diagram, confusion matrix and gallery (matplotlib, Agg)."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    from .compare import confusion_matrix
    from .datasets import bc03_track
    from .visualization import plot_color_color, plot_confusion_matrix, plot_gallery

    mags = {band: f'phot_mag_{band}' for band in ('F336W', 'F438W', 'F555W', 'F814W')}
    ax = plot_color_color(classified, class_column='class_mode', track=bc03_track(),
                          mag_columns=mags, classes=CLASSES,
                          title='Classified candidates (bundled model)')
    files['color_color'] = os.path.join(output, 'color_color.png')
    ax.figure.savefig(files['color_color'], dpi=120, bbox_inches='tight')
    plt.close(ax.figure)

    if truth_column is not None:
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
        for ax, norm, title in ((axes[0], None, 'counts'),
                                (axes[1], 'a', 'fraction of each true class')):
            matrix = confusion_matrix(classified, truth_column, 'class_mode', normalize=norm)
            plot_confusion_matrix(matrix, ax=ax, title=title, label_a='true class',
                                  label_b='predicted class (class_mode)')
        if evaluation is not None:
            fig.suptitle(f'Against the simulated truth: accuracy {evaluation.accuracy:.1%}, '
                         f'class 1+2 {evaluation.cluster_accuracy:.1%}')
        files['confusion'] = os.path.join(output, 'confusion_matrix.png')
        fig.savefig(files['confusion'], dpi=120, bbox_inches='tight')
        plt.close(fig)

    usable = ~np.ma.getmaskarray(classified['class_mode'])
    cut = make_cutouts(images, classified[usable], size=32)
    # Colour stamps of a random sample of each class (seeded: the same run
    # draws the same stamps), never the first ones of the catalogue.
    fig = plot_gallery(cut, classified['class_mode'][usable].filled(0), per_class=8,
                       order='random', seed=seed)
    files['gallery'] = os.path.join(output, 'gallery.png')
    fig.savefig(files['gallery'], dpi=110, bbox_inches='tight')
    plt.close(fig)
    _step(log, '  plots: colour-colour diagram, '
               + ('confusion matrix, ' if truth_column else '') + 'stamp gallery')


def run_pipeline(output, *, images=None, catalog=None, models=None, shape=(2000, 2000),
                 n_candidates=None, distance=10 * u.Mpc, seed=0, truth_column=None,
                 precision='auto', batch_size=32, progress=True, plots=True,
                 overwrite=False):
    """
    Classify a field and write the results into one folder.

    With ``images`` and ``catalog`` it classifies those; with neither it
    simulates a field first (the package's embedded default) and scores
    the classification against the simulation's truth.

    Parameters
    ----------
    output : str or path-like
        Output folder (created).
    images : any input of `~astro_clusterclass.load_images`, optional
        The five bands.
    catalog : `~astropy.table.Table`, optional
        Candidates with positions (with ``images``).
    models : optional
        As in `~astro_clusterclass.classify.classify_table` (default: the
        bundled model).
    shape, n_candidates, distance, seed : optional
        The simulated field (see `~astro_clusterclass.datasets.make_cluster_field`).
    truth_column : str, optional
        Class column of ``catalog`` to score against (a simulated field's
        truth is used automatically).
    precision, batch_size, progress : optional
        Passed to `~astro_clusterclass.classify.classify_table`.
    plots : bool, optional
        Draw the figures (matplotlib).
    overwrite : bool, optional
        Replace files of an earlier run in ``output``.

    Returns
    -------
    result : `~astro_clusterclass.pipeline.PipelineResult`
        ``name → path`` of every file written, plus ``table``,
        ``evaluation`` and ``summary``.

    Raises
    ------
    ValueError
        If only one of ``images`` and ``catalog`` is given, or a file exists
        and ``overwrite`` is False.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.pipeline import run_pipeline
    >>> out = os.path.join(tempfile.mkdtemp(), 'demo')
    >>> result = run_pipeline(out, shape=(400, 400), n_candidates=60, progress=False,
    ...                       plots=False)
    >>> sorted(os.path.basename(p) for p in result.values())  # doctest: +NORMALIZE_WHITESPACE
    ['classified.ecsv', 'classified.fits', 'field_candidates.ecsv', 'field_f275w.fits',
     'field_f336w.fits', 'field_f438w.fits', 'field_f555w.fits', 'field_f814w.fits',
     'field_truth.ecsv', 'regions.reg', 'summary.txt']
    >>> len(result.table)
    60
    """
    if (images is None) != (catalog is None):
        msg = 'give both images and catalog (your own field), or neither (a simulated field)'
        raise ValueError(msg)
    opened = []
    try:
        return _run(output, images, catalog, opened, models=models, shape=shape,
                    n_candidates=n_candidates, distance=distance, seed=seed,
                    truth_column=truth_column, precision=precision, batch_size=batch_size,
                    progress=progress, plots=plots, overwrite=overwrite)
    finally:
        for band_images in opened:
            band_images.close()  # files opened here are closed here


def _open(images, opened):
    if isinstance(images, BandImages):
        return images
    images = load_images(images)
    opened.append(images)
    return images


def _run(output, images, catalog, opened, *, models, shape, n_candidates, distance, seed,
         truth_column, precision, batch_size, progress, plots, overwrite):
    output = os.fspath(output)
    names = ['classified.fits', 'classified.ecsv', 'regions.reg', 'summary.txt']
    if not overwrite:
        existing = [n for n in names if os.path.exists(os.path.join(output, n))]
        if existing:
            msg = (f'output: {output!r} already holds {existing}; pass overwrite=True '
                   f'(--overwrite) to replace them, or choose another folder')
            raise FileExistsError(msg)
    os.makedirs(output, exist_ok=True)
    log, files, timing = [], PipelineResult(), {}
    started = time.perf_counter()

    if images is None:
        from .datasets import make_cluster_field
        _step(log, f'simulating a {shape[1]}x{shape[0]} px five-band field at {distance} '
                   f'(seed {seed}) ...')
        field = make_cluster_field(shape, n_candidates, distance=distance, seed=seed)
        written = field.write(os.path.join(output, 'images'), prefix='field',
                              overwrite=overwrite)
        files.update({f'image_{k}' if k in BANDS else k: v for k, v in written.items()})
        catalog = field.labelled_candidates(columns=('class', 'subclass'))
        catalog.rename_column('class', 'true_class')
        catalog.rename_column('subclass', 'true_subclass')
        truth_column = 'true_class'
        images = _open([written[b] for b in BANDS], opened)
        source = (f'simulated field, {shape[1]}x{shape[0]} px, {len(catalog)} candidates, '
                  f'{distance}, seed {seed}')
        timing['simulate_s'] = time.perf_counter() - started
        _step(log, f'  {len(catalog)} candidates; images in {os.path.join(output, "images")}')
    else:
        check_table(catalog, parameter='catalog')
        images = _open(images, opened)
        source = f'{len(catalog)} candidates of {catalog.meta.get("file", "the catalogue")}'
    if truth_column is not None:
        require_columns(catalog, [truth_column], parameter='truth_column')

    t0 = time.perf_counter()
    _step(log, 'classifying ...')
    classified = classify_table(catalog, images, models=models, precision=precision,
                                batch_size=batch_size, progress=progress)
    timing['classify_s'] = time.perf_counter() - t0
    step = classified.meta['classification']
    model_names = ', '.join(m['weights'] or m['source'] or m['architecture']
                            for m in step['models'])
    _step(log, f'  {step["n_classified"]} of {len(classified)} classified with '
               f'{model_names} ({step["device"]}, {step["precision"]}) '
               f'in {timing["classify_s"]:.1f} s')

    t0 = time.perf_counter()
    zeropoints, system = _zeropoints(images)
    classified = candidate_photometry(classified, images, zeropoints=zeropoints,
                                      radii_bands=('F555W',), prefix='phot_')
    timing['photometry_s'] = time.perf_counter() - t0
    _step(log, f'  photometry (photutils, 4 px apertures, {system} magnitudes) in '
               f'{timing["photometry_s"]:.1f} s')

    evaluation = None
    if truth_column is not None:
        from .training import evaluate_classes
        labelled = np.isin(np.ma.filled(classified[truth_column], 0), CLASSES)
        evaluation = evaluate_classes(np.asarray(classified[truth_column])[labelled],
                                      classified['class_mode'].filled(0)[labelled])

    classified.meta['pipeline'] = provenance('run_pipeline', {
        'source': source, 'models': model_names, 'precision': precision})
    files['classified_fits'] = os.path.join(output, 'classified.fits')
    files['classified_ecsv'] = os.path.join(output, 'classified.ecsv')
    write_table(classified, files['classified_fits'], overwrite=overwrite)
    write_table(classified, files['classified_ecsv'], overwrite=overwrite)
    files['regions'] = os.path.join(output, 'regions.reg')
    write_ds9_regions(classified, files['regions'], class_column='class_mode', label=None,
                      overwrite=overwrite)
    _step(log, f'  wrote the catalogue (FITS, ECSV) and {files["regions"]}')
    if plots:
        t0 = time.perf_counter()
        _plots(classified, images, truth_column, output, files, log, evaluation, seed)
        timing['plots_s'] = time.perf_counter() - t0
    timing['total_s'] = time.perf_counter() - started

    counts = {k: int(np.sum(classified['class_mode'].filled(0) == k)) for k in CLASSES}
    lines = ['astro_clusterclass run', '======================', '',
             f'input: {source}', f'models: {model_names}',
             f'device/precision: {step["device"]}/{step["precision"]}',
             '', 'candidates per class (class_mode):']
    lines += [f'  {k} {CLASS_NAMES[k]:<28} {counts[k]:6d}' for k in CLASSES]
    lines.append(f'  not classified (flagged stamps)  {len(classified) - sum(counts.values()):6d}')
    if evaluation is not None:
        lines += ['', f'agreement with the truth ({truth_column}):', str(evaluation)]
    lines += ['', 'time taken: ' + ', '.join(f'{k[:-2]} {v:.1f} s' for k, v in timing.items())]
    summary = '\n'.join(lines) + '\n'
    files['summary'] = os.path.join(output, 'summary.txt')
    with open(files['summary'], 'w') as fh:
        fh.write(summary)
    result = PipelineResult(files)
    result.table, result.evaluation, result.summary = classified, evaluation, summary
    return result

"""`classify_table`: a candidate table in, the same table with classification columns out."""

import time

import numpy as np

from .._utils.validation import positive_int
from ..cutouts import CutoutFlag
from ..images import BandImages, load_images
from ..tables import check_on_image, check_table, pixel_positions, provenance
from ._device import check_device, check_precision
from ._ensemble import DEFAULT_SKIP_FLAGS, ClassFlag, Ensemble

__all__ = ['classify_table', 'check_options']


def check_options(*, batch_size, chunk_size, skip_flags, device, precision):
    """
    The checked options of a classification (shared by `classify_table` and the Dask path).

    ``device`` and ``precision`` are checked for syntax only: they are
    resolved where the models run.

    Examples
    --------
    >>> from astro_clusterclass.classify import check_options
    >>> check_options(batch_size=32, chunk_size=1024, skip_flags=3, device='cpu',
    ...               precision='auto')['skip_flags']
    <CutoutFlag.EDGE|OFF_IMAGE: 3>
    """
    try:
        skip = CutoutFlag(int(skip_flags))
    except (TypeError, ValueError) as exc:
        msg = f'skip_flags must be CutoutFlag bits, got {skip_flags!r}'
        raise ValueError(msg) from exc
    return {'batch_size': positive_int(batch_size, 'batch_size'),
            'chunk_size': positive_int(chunk_size, 'chunk_size'),
            'skip_flags': skip, 'device': check_device(device),
            'precision': check_precision(precision)}


def _ensemble(models, device, precision):
    """The `Ensemble` of ``models`` (an Ensemble given is used as it is)."""
    if not isinstance(models, Ensemble):
        return Ensemble(models, device=device, precision=precision)
    for name, value, have in (('device', device, str(models.device)),
                              ('precision', precision, models.precision)):
        if value != 'auto' and str(value) != have:
            msg = (f'{name}={value!r} but the Ensemble given as models runs with {have!r}; '
                   f'leave {name} at its default or build the Ensemble with {name}={value!r}')
            raise ValueError(msg)
    return models


def classify_table(tbl, images, *, models=None, batch_size=32, device='auto',
                   precision='auto', progress=True, return_probabilities=False,
                   chunk_size=1024, skip_flags=DEFAULT_SKIP_FLAGS, columns=None,
                   calibration=None):
    """
    Classify every candidate of a table with one model or an ensemble.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidates with 0-based pixel columns (``x``/``y`` or another pair
        of :data:`~astro_clusterclass.tables.PIXEL_COLUMN_PAIRS`) or a
        `~astropy.coordinates.SkyCoord` column (then the images need a WCS).
        Not modified.
    images : `~astro_clusterclass.images.BandImages` or input of `~astro_clusterclass.load_images`
        The five bands.
    models : model source, list of them, or `~astro_clusterclass.classify.Ensemble`, optional
        Each a registered weights or model name, a checkpoint file or URL,
        a `~astro_clusterclass.models.Weights` record or a model from
        `~astro_clusterclass.models.get_model` /
        `~astro_clusterclass.models.load_model` (see
        `~astro_clusterclass.models.load_model`), or an Ensemble prepared
        once for many tables. Default: the installed default model
        (`~astro_clusterclass.models.default_weights`). Every model must
        predict the classes 1-4.
    batch_size : int, optional
        Stamps per forward pass.
    device : str or `torch.device`, optional
        ``'auto'`` (a CUDA GPU when present, else the CPU), ``'cpu'``,
        ``'cuda'``...
    precision : {'auto', 'fp32', 'bf16', 'int8'}, optional
        Compute precision (weights cast once); see
        `~astro_clusterclass.classify.resolve_precision`. ``'int8'`` (CPU
        only) quantizes the members on stamps of this job and is refused
        (`~astro_clusterclass.classify.QuantizationRefusedError`, with the
        measured agreement) when it would change classes; see
        :doc:`/scaling`.
    progress : bool, optional
        Show a tqdm progress bar (candidates).
    return_probabilities : bool, optional
        Add each model's class probabilities.
    chunk_size : int, optional
        Candidates whose stamps are cut and held at once (memory is about
        ``chunk_size * 5 * S * S * 4`` bytes, twice over).
    skip_flags : `~astro_clusterclass.cutouts.CutoutFlag`, optional
        Stamps with any of these flags are not classified (masked results).
        Use ``CutoutFlag.OFF_IMAGE | CutoutFlag.MISSING_BAND`` to classify
        padded edge stamps too.
    columns : tuple of str, optional
        Position columns, see `~astro_clusterclass.tables.pixel_positions`.
    calibration : str, path or `~astro_clusterclass.calibration.Calibration`, optional
        Calibrate the mean probabilities: ``'stored'`` (the calibration
        stored with the models, see
        `~astro_clusterclass.calibration.stored_calibration`), a calibration
        file or object fitted for these models
        (`~astro_clusterclass.calibration.fit_calibration`). Default: none.

    Returns
    -------
    table : `~astropy.table.QTable`
        A new table: the input columns, rows (in order) and ``meta``, then

        - ``class_flag`` (uint8): `~astro_clusterclass.classify.ClassFlag`
          bits: the `~astro_clusterclass.cutouts.CutoutFlag` bits of the
          candidate's stamp (the stamp the ensemble cuts, which holds every
          model's own), and ``NONFINITE_PROBABILITY`` where a model gave NaN
          or infinite probabilities; rows with a flag in ``skip_flags`` or
          with non-finite probabilities have masked results (never a class);
        - ``class_<label>`` (int, masked): each model's class; the label
          is the architecture, numbered when several models share it
          (``class_resnet18_1``...);
        - ``prob_<label>`` (float32 ``(N, 4)``, masked; only with
          ``return_probabilities``): each model's probabilities of classes 1-4;
        - ``class_mode``, ``class_mean``, ``class_median``, ``class_std``,
          ``class_quality``, ``n_models`` and ``prob_1`` ... ``prob_4``
          (mean probabilities): the ensemble consolidation of
          `~astro_clusterclass.classify.consolidate` (tie rule there);
          with ``calibration`` the ``prob_<k>`` are calibrated and
          ``prob_raw_1`` ... ``prob_raw_4`` keep the mean probabilities;
        - ``prob_entropy``, ``prob_margin`` (float, masked): entropy of
          ``prob_1`` ... ``prob_4`` (divided by ln 4: 0 certain, 1 uniform)
          and the difference between the two largest;
          ``prob_mutual_info``: the members' disagreement (mutual
          information between class and model, divided by ln 4; 0 for one
          model), from their uncalibrated probabilities (see
          `~astro_clusterclass.calibration.mutual_information`).

        ``table.meta['classification']`` holds the provenance of this step
        (``date``, ``function``, ``arguments``, ``version``), ``models``
        (label, architecture, weights name, sha256, source, cutout size,
        normalisation, transform, init, trained_on), ``device``,
        ``precision``, ``cutout_size``, ``n_classified``,
        ``n_nonfinite_probabilities``, ``calibration`` (None, or the
        calibration applied with its source and fit), ``training_domain``
        (see `~astro_clusterclass.classify.Ensemble.check_training_domain`)
        and ``timing`` (seconds spent loading/preparing the models,
        classifying and building the result columns).

    Notes
    -----
    Memory: the models are loaded one at a time (largest first) and only
    their inference copies stay. When ``images`` are file names, the files
    are opened here, memory-mapped, and the pages read for each chunk are
    handed back to the operating system after it, so that the resident
    memory does not grow with the mosaic; images passed as arrays or HDUs
    are left alone.

    Raises
    ------
    ValueError
        If the table has no positions, none of them falls on the images
        (a catalog made on another mosaic; more than 90 % off the images
        warns), pixel and sky positions disagree through the WCS (see
        `~astro_clusterclass.tables.pixel_positions`), a band is missing, a
        model cannot be loaded or is for other bands, sizes or classes, or
        an option is invalid; the message names the parameter.

    Warns
    -----
    `~astropy.utils.exceptions.AstropyUserWarning`
        If a model trained on simulations only classifies images that are
        not simulated (recorded in ``training_domain``).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from astropy.table import QTable
    >>> from astro_clusterclass.classify import classify_table
    >>> from astro_clusterclass.models import get_model
    >>> _ = torch.manual_seed(0)
    >>> model = get_model('compactnet', cutout_size=16)
    >>> rng = np.random.default_rng(0)
    >>> images = {b: rng.normal(size=(60, 60)).astype('f4')
    ...           for b in ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']}
    >>> tbl = QTable({'x': [30.0, 2.0, 40.0], 'y': [30.0, 2.0, 20.0]}, meta={'field': 'demo'})
    >>> out = classify_table(tbl, images, models=model, progress=False)
    >>> out['class_flag'].tolist()  # the second stamp runs off the image
    [0, 1, 0]
    >>> out['class_mode'].mask.tolist()
    [False, True, False]
    >>> out['class_quality'].tolist()
    [1.0, None, 1.0]
    >>> out.meta['field'], out.meta['classification']['n_classified']
    ('demo', 2)
    """
    check_table(tbl)
    opts = check_options(batch_size=batch_size, chunk_size=chunk_size, skip_flags=skip_flags,
                         device=device, precision=precision)
    owned = not isinstance(images, BandImages)
    images = load_images(images)
    try:
        x, y = pixel_positions(tbl, wcs=images.wcs, columns=columns)
        check_on_image(x, y, images.shape)  # a catalog of another mosaic is an error
        started = time.perf_counter()
        ensemble = _ensemble(models, device, precision)
        calibrator, calibration_meta = ensemble.calibration(calibration)
        prepared = time.perf_counter()
        ensemble.check_columns(tbl, return_probabilities=return_probabilities,
                               calibrated=calibrator is not None)
        domain = ensemble.check_training_domain(images)  # warns: simulation model, real data
        flags, probs, done = ensemble.classify_positions(
            images, x, y, batch_size=opts['batch_size'], chunk_size=opts['chunk_size'],
            skip_flags=opts['skip_flags'], release_pages=owned, progress=progress)
        finished = time.perf_counter()
    finally:
        if owned:
            images.close()  # files opened here are closed here
    out = ensemble.results_table(tbl, flags, probs, done,
                                 return_probabilities=return_probabilities,
                                 calibration=calibrator)
    built = time.perf_counter()
    step = provenance('classify_table', {
        'batch_size': opts['batch_size'], 'device': device, 'precision': precision,
        'return_probabilities': return_probabilities, 'chunk_size': opts['chunk_size'],
        'skip_flags': CutoutFlag.describe(opts['skip_flags']), 'columns': columns,
        'models': [meta.get('weights') or meta.get('source') or meta['architecture']
                   for meta in ensemble.metas],
        'calibration': (None if calibration is None else calibration
                        if isinstance(calibration, str) else repr(calibration))})
    step.update({'models': ensemble.models_meta(), 'device': str(ensemble.device),
                 'precision': ensemble.precision, 'cutout_size': ensemble.stamp_size,
                 'n_classified': int(done.sum()), 'calibration': calibration_meta,
                 'n_nonfinite_probabilities': int(np.count_nonzero(
                     flags & np.uint8(ClassFlag.NONFINITE_PROBABILITY))),
                 'training_domain': domain,
                 'timing': {'models_s': round(prepared - started, 3),
                            'classify_s': round(finished - prepared, 3),
                            'results_s': round(built - finished, 3)}})
    out.meta['classification'] = step
    return out

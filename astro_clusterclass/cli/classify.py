"""``clusterclass classify``: classify every candidate of a catalogue."""

import contextlib

from ._common import (add_catalog_arguments, add_image_arguments, catalog_from_args,
                      check_table_output, position_columns, position_names, progress)


__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'classify', help='classify candidates with a model or an ensemble',
        description='Classify every candidate of CATALOG with one model or an ensemble '
                    '(classes 1-4) and write the catalogue back with per-model classes, '
                    'the ensemble mode/mean/median/std/quality and mean probabilities. '
                    'Every row is kept; rows that cannot be classified (edge, NaN, '
                    'missing band) are flagged and masked.')
    add_catalog_arguments(parser, positions=True)
    add_image_arguments(parser)
    parser.add_argument('-o', '--output', required=True, metavar='TABLE',
                        help='output table (.fits, .ecsv, .csv, .hdf5...; format from the '
                             'extension, checked before the work)')
    parser.add_argument('-m', '--models', nargs='+', default=None, metavar='MODEL',
                        help='checkpoint files, URLs or registered weights names '
                             '(default: the installed default model)')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='stamps per forward pass of a model')
    parser.add_argument('--chunk-size', type=int, default=1024,
                        help='candidates whose stamps are held in memory at once')
    parser.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda'")
    parser.add_argument('--precision', default='auto', choices=('auto', 'fp32', 'bf16', 'int8'),
                        help="arithmetic of the models ('auto' chooses by device; 'int8': "
                             "CPU, quantized on this job's stamps, refused when it would "
                             'change classes)')
    parser.add_argument('--probabilities', action='store_true',
                        help="add each model's class probabilities")
    parser.add_argument('--calibration', default=None, metavar="{stored,FILE}",
                        help="calibrate the mean probabilities: 'stored' (the calibration "
                             'stored with the model) or a file of clusterclass calibrate '
                             'fitted for these models; the uncalibrated ones go to '
                             'prob_raw_1 ... prob_raw_4 (default: none)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--overwrite', action='store_true')
    dask = parser.add_argument_group(
        'Dask', 'classify on a Dask cluster, in chunks written to --output-dir; a run that '
                'stops is continued by running the same command again (needs '
                "pip install 'astro_clusterclass[dask]')")
    where = dask.add_mutually_exclusive_group()
    where.add_argument('--dask-workers', type=int, default=None, metavar='N',
                       help='start a local cluster of N worker processes (one thread each)')
    where.add_argument('--dask-scheduler', default=None, metavar='ADDRESS',
                       help='use the Dask scheduler at ADDRESS (e.g. tcp://host:8786)')
    dask.add_argument('--output-dir', default=None, metavar='DIR',
                      help='chunk files and manifest of the run (default: OUTPUT.chunks)')
    dask.add_argument('--task-size', type=int, default=8192, metavar='N',
                      help='candidates per Dask task and chunk file (default 8192)')
    dask.add_argument('--restart', action='store_true',
                      help='discard the chunks of an earlier run in --output-dir')
    parser.set_defaults(func=run)


def run(args):
    import warnings

    import numpy as np
    from astropy.utils.exceptions import AstropyUserWarning

    from ..classify import classify_table
    from ..images import load_images
    from ..io import write_table
    from ..tables import check_on_image, pixel_positions

    check_table_output(args)
    calibration = _calibration(args.calibration)
    tbl = catalog_from_args(args)
    columns = position_columns(tbl, args.positions)
    dask = args.dask_workers is not None or args.dask_scheduler is not None
    with load_images(args.images, bands=args.bands) as images:
        # Positions checked here so that the errors name the flags.
        names = position_names()
        x, y = pixel_positions(tbl, wcs=images.wcs, use=args.positions, option_names=names)
        check_on_image(x, y, images.shape, option_names=names)
        if not dask:
            with warnings.catch_warnings(), _errors_name_flags():
                # Said above, with the flags; not a second time.
                warnings.filterwarnings('ignore', r'.* fall off the images', AstropyUserWarning)
                out = classify_table(tbl, images, models=args.models, batch_size=args.batch_size,
                                     chunk_size=args.chunk_size, device=args.device,
                                     precision=args.precision, progress=progress(args),
                                     return_probabilities=args.probabilities, columns=columns,
                                     calibration=calibration)
    if dask:
        with _errors_name_flags():
            out = _classify_dask(tbl, args, columns, calibration)
    write_table(out, args.output, overwrite=args.overwrite)
    step = out.meta['classification']
    counts = {k: int(np.sum(out['class_mode'].filled(0) == k)) for k in (1, 2, 3, 4)}
    chunks = ''
    if 'dask' in step:
        info = step['dask']
        chunks = (f'; Dask: {info["chunks_computed"]} chunks computed, '
                  f'{info["chunks_reused"]} reused, in {info["output_dir"]}')
    print(f'classified {step["n_classified"]} of {len(out)} candidates with '
          f'{len(step["models"])} model(s) ({step["device"]}, {step["precision"]}); class '
          f'counts {counts}{chunks}; wrote {args.output}')


#: Openings of the library's error messages, and the flags they are about.
_FLAG_OF = {"precision='int8'": '--precision int8', 'calibration': '--calibration'}


@contextlib.contextmanager
def _errors_name_flags():
    """Errors about the calibration or int8 name the flag, not the library's parameter."""
    try:
        yield
    except ValueError as exc:
        text = str(exc)
        for opening, flag in _FLAG_OF.items():
            if text.startswith(opening):
                raise ValueError(flag + text[len(opening):]) from exc
        raise


def _calibration(value):
    """``--calibration``: None, 'stored' or the calibration read from the file (checked first)."""
    if value is None or value == 'stored':
        return value
    from ..calibration import read_calibration
    try:
        return read_calibration(value)
    except (OSError, ValueError) as exc:
        msg = f'--calibration: {exc}'
        raise ValueError(msg) from exc


def _classify_dask(tbl, args, columns, calibration):
    """Classify on a local cluster of ``--dask-workers`` or at ``--dask-scheduler``."""
    from ..distributed import classify_catalog_dask, dask_client

    output_dir = args.output_dir or f'{args.output}.chunks'
    if args.dask_workers is not None and args.dask_scheduler is not None:
        msg = 'give either --dask-workers or --dask-scheduler, not both'
        raise ValueError(msg)
    if args.dask_workers is not None and args.dask_workers < 1:
        msg = f'--dask-workers must be at least 1, got {args.dask_workers}'
        raise ValueError(msg)
    with dask_client(n_workers=args.dask_workers, scheduler=args.dask_scheduler) as client:
        return classify_catalog_dask(
            tbl, args.images, bands=args.bands, client=client, output_dir=output_dir,
            models=args.models, chunk_size=args.task_size, stream_size=args.chunk_size,
            batch_size=args.batch_size, device=args.device, precision=args.precision,
            return_probabilities=args.probabilities, overwrite=args.restart,
            progress=progress(args), columns=columns, calibration=calibration)

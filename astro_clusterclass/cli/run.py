"""``clusterclass run``: the main job end to end (a simulated field by default)."""

import argparse
import os

from ._common import (add_position_arguments, catalog_from_args, check_output_folder,
                      place_candidates, progress)

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    """
    Register ``clusterclass run`` on ``subparsers`` (an argparse
    subparsers action); its ``func`` default is `run`.

    Examples
    --------
    >>> import argparse
    >>> from astro_clusterclass.cli import run
    >>> subparsers = argparse.ArgumentParser(prog='clusterclass').add_subparsers()
    >>> run.add_parser(subparsers)
    >>> subparsers.choices['run'].prog
    'clusterclass run'
    """
    parser = subparsers.add_parser(
        'run', help='classify a field end to end and write catalogue, regions, plots, summary',
        description='The main job. Without CATALOG and IMAGEs: simulate a five-band HST field '
                    '(known classes), classify it with the bundled model and score it against '
                    'the truth. With them: classify your field. Writes into one folder the '
                    'classified catalogue (FITS and ECSV), a DS9 region file coloured by '
                    'class, a colour-colour diagram, a confusion matrix (simulations), a '
                    'stamp gallery and summary.txt.')
    parser.add_argument('inputs', nargs='*', metavar='CATALOG IMAGE',
                        help='your candidate catalogue followed by its five band images '
                             '(FITS), as for the other commands; none: a simulated field')
    # The options of earlier versions.
    parser.add_argument('--catalog', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--images', nargs=5, default=None, help=argparse.SUPPRESS)
    parser.add_argument('--format', default=None,
                        help='astropy table format of CATALOG (default: guessed)')
    parser.add_argument('--class-column', type=int, default=None, metavar='N',
                        help='LEGUS only: 1-based number of the class column')
    add_position_arguments(parser)
    parser.add_argument('-o', '--output', default='clusterclass-run', metavar='DIR',
                        help='output folder')
    parser.add_argument('--truth-column', default=None, metavar='NAME',
                        help='class column of CATALOG to score the classification against')
    parser.add_argument('-m', '--models', nargs='+', default=None, metavar='MODEL',
                        help='checkpoints or registered weights (default: the bundled model)')
    parser.add_argument('--shape', type=int, nargs=2, default=(2000, 2000),
                        metavar=('NY', 'NX'), help='simulated image shape (default 2000 2000)')
    parser.add_argument('--n-candidates', type=int, default=None, metavar='N',
                        help='simulated candidates (default: 5000 per 4000 x 4000 px)')
    parser.add_argument('--distance', type=float, default=10.0, metavar='MPC',
                        help='distance of the simulated galaxy')
    parser.add_argument('--seed', type=int, default=0, help='simulation seed')
    parser.add_argument('--precision', default='auto', choices=('auto', 'fp32', 'bf16'),
                        help="arithmetic of the models ('auto' chooses by device)")
    parser.add_argument('--no-plots', action='store_true',
                        help='no colour-colour diagram, confusion matrix or gallery')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing, non-empty folder, replacing files of '
                             'the same names')
    parser.set_defaults(func=run)


def run(args):
    """
    Run ``clusterclass run`` with parsed arguments.

    `~astro_clusterclass.cli.main` parses the arguments and calls it.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.cli import main
    >>> out = os.path.join(tempfile.mkdtemp(), 'demo')
    >>> main(['run', '-o', out, '--shape', '300', '300', '--no-plots',
    ...       '--no-progress'])  # doctest: +ELLIPSIS
    <BLANKLINE>
    astro_clusterclass run
    ...
    open the regions in SAOImage DS9 with:
      ds9 .../images/field_f555w.fits -regions load .../regions.reg
    0
    """
    import astropy.units as u

    from ..images import load_images
    from ..pipeline import run_pipeline

    if args.inputs:
        if args.catalog is not None or args.images is not None or len(args.inputs) != 6:
            msg = (f'give CATALOG and five IMAGEs (your field), or nothing (a simulated '
                   f'field); got {len(args.inputs)} file(s)')
            raise ValueError(msg)
        args.catalog, args.images = args.inputs[0], args.inputs[1:]
    if (args.catalog is None) != (args.images is None):
        msg = 'give both --catalog and --images (your field), or neither (a simulated field)'
        raise ValueError(msg)
    check_output_folder(args)
    catalog = None
    if args.catalog is not None:
        catalog = catalog_from_args(args)
        catalog.meta.setdefault('file', os.path.basename(args.catalog))
        with load_images(args.images) as images:
            catalog = place_candidates(catalog, images, args.positions)
    result = run_pipeline(args.output, images=args.images, catalog=catalog,
                          models=args.models, shape=tuple(args.shape),
                          n_candidates=args.n_candidates, distance=args.distance * u.Mpc,
                          seed=args.seed, truth_column=args.truth_column,
                          precision=args.precision, progress=progress(args),
                          plots=not args.no_plots, overwrite=args.overwrite)
    print()
    print(result.summary)
    print(f'results in {os.path.abspath(args.output)}:')
    for path in sorted(set(result.values())):
        print(f'  {os.path.relpath(path, args.output)}')
    image = result.get('image_F555W') or (args.images[3] if args.images else 'F555W.fits')
    print('open the regions in SAOImage DS9 with:')
    print(f'  ds9 {image} -regions load {result["regions"]}')

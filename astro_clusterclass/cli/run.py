"""``clusterclass run``: the main job end to end (a simulated field by default)."""

import os

import astropy.units as u

from ..pipeline import run_pipeline
from ._common import read_catalog

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
        description='The main job. Without --catalog/--images: simulate a five-band HST field '
                    '(known classes), classify it with the bundled model and score it against '
                    'the truth. With them: classify your field. Writes into one folder the '
                    'classified catalogue (FITS and ECSV), a DS9 region file coloured by '
                    'class, a colour-colour diagram, a confusion matrix (simulations), a '
                    'stamp gallery and summary.txt.')
    parser.add_argument('-o', '--output', default='clusterclass-run', metavar='DIR',
                        help="output folder (default 'clusterclass-run')")
    parser.add_argument('--catalog', default=None, help='your candidate catalogue')
    parser.add_argument('--images', nargs=5, default=None, metavar='IMAGE',
                        help='your five band images (FITS), with --catalog')
    parser.add_argument('--truth-column', default=None,
                        help='class column of --catalog to score the classification against')
    parser.add_argument('-m', '--models', nargs='+', default=None, metavar='MODEL',
                        help='checkpoints or registered weights (default: the bundled model)')
    parser.add_argument('--shape', type=int, nargs=2, default=(2000, 2000),
                        metavar=('NY', 'NX'), help='simulated image shape (default 2000 2000)')
    parser.add_argument('--n-candidates', type=int, default=None, metavar='N',
                        help='simulated candidates (default: 5000 per 4000 x 4000 px)')
    parser.add_argument('--distance', type=float, default=10.0, metavar='MPC')
    parser.add_argument('--seed', type=int, default=0, help='simulation seed (default 0)')
    parser.add_argument('--precision', default='auto', choices=('auto', 'fp32', 'bf16'))
    parser.add_argument('--no-plots', action='store_true')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--overwrite', action='store_true')
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
    simulating a 300x300 px five-band field ...
    open the regions in SAOImage DS9 with:
      ds9 .../images/field_f555w.fits -regions load .../regions.reg
    0
    """
    if (args.catalog is None) != (args.images is None):
        msg = 'give both --catalog and --images (your field), or neither (a simulated field)'
        raise ValueError(msg)
    catalog = None
    if args.catalog is not None:
        catalog = read_catalog(args.catalog)
        catalog.meta.setdefault('file', os.path.basename(args.catalog))
    result = run_pipeline(args.output, images=args.images, catalog=catalog,
                          models=args.models, shape=tuple(args.shape),
                          n_candidates=args.n_candidates, distance=args.distance * u.Mpc,
                          seed=args.seed, truth_column=args.truth_column,
                          precision=args.precision, progress=not args.no_progress,
                          plots=not args.no_plots, overwrite=args.overwrite)
    print()
    print(result.summary)
    print(f'results in {os.path.abspath(args.output)}:')
    for path in sorted(set(result.values())):
        print(f'  {os.path.relpath(path, args.output)}')
    image = result.get('image_F555W') or (args.images[3] if args.images else 'F555W.fits')
    print('open the regions in SAOImage DS9 with:')
    print(f'  ds9 {image} -regions load {result["regions"]}')

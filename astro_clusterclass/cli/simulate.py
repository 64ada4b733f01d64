"""``clusterclass simulate``: write a simulated five-band field with its truth."""

import os

from ._common import check_output_folder

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    """
    Register ``clusterclass simulate`` on ``subparsers`` (an argparse
    subparsers action); its ``func`` default is `run`.

    Examples
    --------
    >>> import argparse
    >>> from astro_clusterclass.cli import simulate
    >>> subparsers = argparse.ArgumentParser(prog='clusterclass').add_subparsers()
    >>> simulate.add_parser(subparsers)
    >>> subparsers.choices['simulate'].prog
    'clusterclass simulate'
    """
    parser = subparsers.add_parser(
        'simulate', help='simulate a five-band HST field of cluster candidates',
        description='Write five FITS images (F275W, F336W, F438W, F555W, F814W; e-/s, '
                    '0.04"/px, real WCS and photometric keywords), the truth table and '
                    'the candidate catalogue (ECSV) of a simulated field with known '
                    'classes.')
    parser.add_argument('-o', '--output', required=True, metavar='DIR',
                        help='output folder (created; its parent must exist)')
    parser.add_argument('--shape', type=int, nargs=2, default=(4000, 4000),
                        metavar=('NY', 'NX'), help='image shape in pixels (default 4000 4000)')
    parser.add_argument('--n-candidates', type=int, default=None, metavar='N',
                        help='number of candidates (default: 5000 per 4000 x 4000 px)')
    parser.add_argument('--distance', type=float, default=10.0, metavar='MPC',
                        help='distance of the host galaxy in Mpc (default 10)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--class-fractions', type=float, nargs=4, default=None,
                        metavar=('F1', 'F2', 'F3', 'F4'),
                        help='relative numbers of classes 1-4 (default: the human '
                             'classes of Whitmore et al. 2021, Table 3)')
    parser.add_argument('--crowding', type=float, default=1.0,
                        help='scale of the number of faint field stars (default 1)')
    parser.add_argument('--no-noise', action='store_true', help='noiseless images')
    parser.add_argument('--prefix', default='field', help="file-name prefix (default 'field')")
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing, non-empty folder, replacing files of '
                             'the same names')
    parser.set_defaults(func=run)


def run(args):
    """
    Run ``clusterclass simulate`` with parsed arguments.

    `~astro_clusterclass.cli.main` parses the arguments and calls it.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.cli import build_parser, simulate
    >>> work = tempfile.mkdtemp()
    >>> args = build_parser().parse_args(['simulate', '-o', work, '--shape', '300', '300'])
    >>> simulate.run(args)  # doctest: +ELLIPSIS
    simulated 300x300 px, ...
    >>> sorted(os.listdir(work))  # doctest: +NORMALIZE_WHITESPACE
    ['field_candidates.ecsv', 'field_f275w.fits', 'field_f336w.fits', 'field_f438w.fits',
     'field_f555w.fits', 'field_f814w.fits', 'field_truth.ecsv']
    """
    import astropy.units as u

    from .._utils.files import atomic_folder
    from ..datasets import make_cluster_field

    check_output_folder(args)
    fractions = None
    if args.class_fractions is not None:
        fractions = dict(zip((1, 2, 3, 4), args.class_fractions))
    field = make_cluster_field(tuple(args.shape), args.n_candidates,
                               distance=args.distance * u.Mpc, seed=args.seed,
                               class_fractions=fractions, crowding=args.crowding,
                               noise=not args.no_noise)
    with atomic_folder(args.output) as tmp:
        written = field.write(tmp, prefix=args.prefix)
    paths = {key: os.path.join(args.output, os.path.relpath(path, tmp))
             for key, path in written.items()}
    ny, nx = field.images.shape
    print(f'simulated {nx}x{ny} px, {len(field.truth)} candidates at '
          f'{args.distance:g} Mpc (seed {args.seed}) in {field.meta["elapsed_s"]:.1f} s')
    for key, path in paths.items():
        print(f'  {key}: {path}')

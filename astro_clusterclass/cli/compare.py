"""``clusterclass compare``: agreement of two classifications, as tables and plots."""

import os

from astropy import units as u

from .._utils.files import check_output
from ..compare import NORMALIZING_MV, compare_catalogs, read_bc03_track
from ._common import read_catalog

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    """
    Register ``clusterclass compare`` on ``subparsers`` (an argparse
    subparsers action); its ``func`` default is `run`.

    Examples
    --------
    >>> import argparse
    >>> from astro_clusterclass.cli import compare
    >>> subparsers = argparse.ArgumentParser(prog='clusterclass').add_subparsers()
    >>> compare.add_parser(subparsers)
    >>> subparsers.choices['compare'].prog
    'clusterclass compare'
    """
    parser = subparsers.add_parser(
        'compare', help='compare two classifications (agreement, confusion, colour boxes)',
        description='Cross-match two catalogues one-to-one (or compare two class '
                    'columns of one catalogue when A and B are the same file) and '
                    'write agreement fractions, confusion matrices, agreement versus '
                    'properties and colour-box counts as ECSV tables, with PNG plots, '
                    'following Whitmore et al. (2021).')
    parser.add_argument('catalog_a', metavar='A', help='first catalogue')
    parser.add_argument('catalog_b', metavar='B', help='second catalogue (may be A itself)')
    parser.add_argument('-o', '--output', required=True, help='output directory')
    for side in ('a', 'b'):
        upper = side.upper()
        parser.add_argument(f'--format-{side}', default=None,
                            help=f'astropy table format of {upper} (default: guessed)')
        parser.add_argument(f'--class-column-{side}', type=int, default=None, metavar='N',
                            help=f'LEGUS only: 1-based class column number of {upper}')
        parser.add_argument(f'--column-{side}', default='class', metavar='NAME',
                            help=f"class column of {upper} (default 'class')")
        parser.add_argument(f'--name-{side}', default=None, metavar='LABEL',
                            help=f'label of {upper} in tables and plots')
    parser.add_argument('--radius', type=float, default=2.0,
                        help='matching radius: pixels, or arcsec with --sky (default 2)')
    parser.add_argument('--sky', action='store_true',
                        help='match sky coordinates (radius in arcsec) instead of pixels')
    parser.add_argument('--footprint', choices=('none', 'hull'), default='none',
                        help="'hull': only objects inside the other catalogue's convex hull")
    parser.add_argument('--property', action='append', default=None, dest='properties',
                        metavar='COLUMN',
                        help='agreement versus this column of A (repeatable; default '
                             'mag_F555W when present)')
    parser.add_argument('--n-bins', type=int, default=4,
                        help='equal-number bins for agreement versus a property')
    distance = parser.add_mutually_exclusive_group()
    distance.add_argument('--distance-modulus', type=float, default=None, metavar='MAG',
                          help=f'distance modulus, for the colour-box counts at '
                               f'M_V < {NORMALIZING_MV:g}')
    distance.add_argument('--distance', type=float, default=None, metavar='MPC',
                          help='distance in Mpc (instead of --distance-modulus)')
    parser.add_argument('--track', default=None, metavar='PATH',
                        help='BC03 track (CSV or folder of .npy) drawn in the '
                             'colour-colour diagrams')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing files in the output directory')
    parser.set_defaults(func=run)


def run(args):
    """
    Run ``clusterclass compare`` with parsed arguments.

    `~astro_clusterclass.cli.main` parses the arguments and calls it.

    Examples
    --------
    Two classifications of one (simulated) catalogue:

    >>> import os, tempfile
    >>> from astro_clusterclass.cli import main
    >>> from astro_clusterclass.datasets import make_cluster_field, relabel_classes
    >>> work = tempfile.mkdtemp()
    >>> truth = make_cluster_field((300, 300), 60, seed=1).truth
    >>> truth['class_human'] = relabel_classes(truth, seed=0)['class']
    >>> path = os.path.join(work, 'classes.ecsv')
    >>> truth['id', 'x', 'y', 'class', 'class_human', 'mag_F555W'].write(path)
    >>> main(['compare', path, path, '--column-a', 'class', '--column-b', 'class_human',
    ...       '-o', os.path.join(work, 'report')])  # doctest: +ELLIPSIS
    60 objects compared (60 classified 1-4 by both); agreement: 1 ...
    wrote ... files to .../report
    0
    """
    import matplotlib
    matplotlib.use('Agg')  # files only; never open a window
    from ..visualization import plot_comparison

    tbl_a = read_catalog(args.catalog_a, format=args.format_a,
                         class_column=args.class_column_a)
    tbl_b = read_catalog(args.catalog_b, format=args.format_b,
                         class_column=args.class_column_b)
    same = _check_arguments(args, tbl_a, tbl_b)
    result = compare_catalogs(
        tbl_a, None if same else tbl_b, class_column_a=args.column_a,
        class_column_b=args.column_b, name_a=args.name_a or None, name_b=args.name_b or None,
        radius=args.radius * u.arcsec if args.sky else args.radius,
        footprint=None if args.footprint == 'none' else args.footprint,
        properties=args.properties, n_bins=args.n_bins,
        distance_modulus=args.distance * u.Mpc if args.distance is not None
        else args.distance_modulus)
    track = read_bc03_track(args.track) if args.track else None
    # Nothing is written if one file exists: the tables are checked here, the
    # figures by plot_comparison before it writes any.
    for name in result.tables():
        check_output(os.path.join(args.output, name), overwrite=args.overwrite,
                     parameter='output_dir')
    figures = plot_comparison(result, track=track, output_dir=args.output,
                              overwrite=args.overwrite, dpi=100)
    written = result.write(args.output, overwrite=args.overwrite)
    written += [os.path.join(args.output, name) for name in figures]
    print(result.summary())
    print(f'wrote {len(written)} files to {args.output}')


def _check_arguments(args, tbl_a, tbl_b):
    """Errors that name the command-line flags; True when A and B are one catalogue."""
    for tbl, column, side in ((tbl_a, args.column_a, 'a'), (tbl_b, args.column_b, 'b')):
        if column not in tbl.colnames:
            msg = (f'--column-{side}={column!r} is not a column of catalogue '
                   f'{side.upper()}; its columns are {tbl.colnames}')
            raise ValueError(msg)
    if args.name_a and args.name_a == args.name_b:
        msg = f'--name-a and --name-b must differ, both are {args.name_a!r}'
        raise ValueError(msg)
    same = os.path.samefile(args.catalog_a, args.catalog_b) and \
        args.class_column_a == args.class_column_b
    if same and args.column_a == args.column_b:
        msg = 'A and B are the same catalogue: give different --column-a and --column-b'
        raise ValueError(msg)
    for prop in args.properties or ():
        if prop not in tbl_a.colnames:
            msg = f'--property {prop!r} is not a column of catalogue A'
            raise ValueError(msg)
    return same

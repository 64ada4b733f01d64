"""``clusterclass compare``: agreement of two classifications, as tables and plots."""

import os

import numpy as np
from astropy import units as u

from ..compare import (agreement_fractions, agreement_vs_property, colour_box_counts,
                       confusion_matrix, crossmatch, read_bc03_track)
from ..science import _distance_modulus
from ..science import _values as _float_values
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
                          help='distance modulus, for the colour-box counts at M_V < -7.8')
    distance.add_argument('--distance', type=float, default=None, metavar='MPC',
                          help='distance in Mpc (instead of --distance-modulus)')
    parser.add_argument('--track', default=None, metavar='PATH',
                        help='BC03 track (CSV or folder of .npy) drawn in the '
                             'colour-colour diagrams')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing files in the output directory')
    parser.set_defaults(func=run)


def _write(tbl, path, overwrite):
    tbl.write(path, format='ascii.ecsv', overwrite=overwrite)
    return path


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
    import matplotlib.pyplot as plt

    from ..visualization import (plot_agreement_vs_property, plot_colour_colour,
                                 plot_confusion_grid)

    tbl_a = read_catalog(args.catalog_a, format=args.format_a,
                         class_column=args.class_column_a)
    tbl_b = read_catalog(args.catalog_b, format=args.format_b,
                         class_column=args.class_column_b)
    for tbl, column, side in ((tbl_a, args.column_a, 'a'), (tbl_b, args.column_b, 'b')):
        if column not in tbl.colnames:
            msg = (f'--column-{side}={column!r} is not a column of catalogue '
                   f'{side.upper()}; its columns are {tbl.colnames}')
            raise ValueError(msg)
    name_a = args.name_a or (args.column_a if args.column_a != args.column_b else 'A')
    name_b = args.name_b or (args.column_b if args.column_a != args.column_b else 'B')
    if name_a == name_b:
        msg = f'--name-a and --name-b must differ, both are {name_a!r}'
        raise ValueError(msg)
    os.makedirs(args.output, exist_ok=True)
    out = args.output
    written = []

    same = os.path.samefile(args.catalog_a, args.catalog_b) and \
        args.class_column_a == args.class_column_b
    if same:
        # Two class columns of one catalogue: the objects pair with themselves.
        pairs, col_a, col_b = tbl_a, args.column_a, args.column_b
        if col_a == col_b:
            msg = 'A and B are the same catalogue: give different --column-a and --column-b'
            raise ValueError(msg)
        n_matched = len(pairs)
    else:
        radius = args.radius * u.arcsec if args.sky else args.radius
        pairs = crossmatch(tbl_a, tbl_b, radius=radius,
                           footprint=None if args.footprint == 'none' else 'hull')
        col_a, col_b = f'{args.column_a}_a', f'{args.column_b}_b'
        n_matched = len(pairs)
        written.append(_write(pairs, os.path.join(out, 'matches.ecsv'), args.overwrite))

    agreement = agreement_fractions(pairs, col_a, col_b)
    written.append(_write(agreement, os.path.join(out, 'agreement.ecsv'), args.overwrite))
    matrices = {}
    for normalize, label in ((None, 'counts'), ('mean', 'mean'), ('a', 'truth_a'),
                             ('b', 'truth_b')):
        matrix = confusion_matrix(pairs, col_a, col_b, normalize=normalize)
        matrices[label] = matrix
        written.append(_write(matrix, os.path.join(out, f'confusion_{label}.ecsv'),
                              args.overwrite))
    titles = {'counts': 'counts', 'mean': 'no ground truth (mean)',
              'truth_a': f'{name_a} as truth', 'truth_b': f'{name_b} as truth'}
    fig = plot_confusion_grid({titles[k]: v for k, v in matrices.items()}, ncols=2,
                              label_a=f'{name_a} class', label_b=f'{name_b} class')
    written.append(os.path.join(out, 'confusion.png'))
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)

    properties = args.properties
    if properties is None:
        properties = ['mag_F555W'] if 'mag_F555W' in tbl_a.colnames else []
    for prop in properties:
        column = prop if same else f'{prop}_a'
        if column not in pairs.colnames:
            msg = f'--property {prop!r} is not a column of catalogue A'
            raise ValueError(msg)
        trend = agreement_vs_property(pairs, col_a, col_b, column, n_bins=args.n_bins,
                                      name=prop)
        written.append(_write(trend, os.path.join(out, f'agreement_vs_{prop}.ecsv'),
                              args.overwrite))
        fig = plot_agreement_vs_property({f'{name_a} vs {name_b}': trend})
        written.append(os.path.join(out, f'agreement_vs_{prop}.png'))
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)

    dm = args.distance_modulus
    if args.distance is not None:
        dm = args.distance * u.Mpc
    if dm is not None:
        counts = colour_box_counts({name_a: (tbl_a, args.column_a),
                                    name_b: (tbl_b, args.column_b)}, distance_modulus=dm)
        written.append(_write(counts, os.path.join(out, 'colour_boxes.ecsv'),
                              args.overwrite))
    track = read_bc03_track(args.track) if args.track else None
    if dm is not None or track is not None:
        for name, tbl, column in ((name_a, tbl_a, args.column_a),
                                  (name_b, tbl_b, args.column_b)):
            shown, title = tbl, f'{name}'
            if dm is not None and 'mag_F555W' in tbl.colnames:
                v = _float_values(tbl['mag_F555W'], 'mag_F555W')
                with np.errstate(invalid='ignore'):
                    shown = tbl[v - _distance_modulus(dm) < -7.8]
                title = f'{name}, M_V < -7.8'
            ax = plot_colour_colour(shown, class_column=column, classes=(1, 2, 3),
                                    track=track, title=title)
            safe = ''.join(c if c.isalnum() or c in '-_' else '_' for c in name)
            written.append(os.path.join(out, f'colour_colour_{safe}.png'))
            ax.figure.savefig(written[-1], dpi=100)
            plt.close(ax.figure)

    rows = ', '.join(f'{c} {f:.2f}' for c, f in zip(agreement['class'], agreement['fraction']))
    print(f'{n_matched} objects compared ({agreement.meta["n_used"]} classified 1-4 by '
          f'both); agreement: {rows}')
    print(f'wrote {len(written)} files to {out}')

"""``clusterclass compare``: agreement of two classifications, as tables and plots."""

import argparse
import os

import numpy as np
from astropy import units as u

from ..compare import (NORMALIZING_MV, compare_catalogs, pixel_frame, pixel_grid_offset,
                       read_bc03_track)
from ..tables import pixel_positions, sky_coordinates
from ._common import (add_position_arguments, catalog_from_args, check_output_folder,
                      split_class_column)

#: Pixel scale assumed for converting a pixel radius to the sky when neither
#: catalogue says or shows its own (HST WFC3/UVIS and ACS drizzled mosaics).
DEFAULT_PIXEL_SCALE = 0.0396 * u.arcsec

#: Default matching radius, in pixels (Whitmore et al. 2021).
DEFAULT_RADIUS = 2.0

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
    parser.add_argument('-o', '--output', required=True, metavar='DIR',
                        help='output folder of the report (written under a temporary name '
                             'and renamed when complete; its parent must exist)')
    for side in ('a', 'b'):
        upper = side.upper()
        parser.add_argument(f'--format-{side}', default=None,
                            help=f"astropy table format of {upper} (default: guessed; "
                                 f"'legus', 'phangs', 'starcnet')")
        parser.add_argument(f'--class-column-{side}', default=None, metavar='NAME_OR_N',
                            help=f"class column of {upper} (default: the catalogue's own, "
                                 f"e.g. class_human of a PHANGS-HST human catalogue, else "
                                 f"'class'); a number N is the 1-based column of a LEGUS "
                                 f".tab file")
        # The name of earlier versions.
        parser.add_argument(f'--column-{side}', dest=f'class_column_{side}',
                            help=argparse.SUPPRESS)
        parser.add_argument(f'--name-{side}', default=None, metavar='LABEL',
                            help=f'label of {upper} in tables and plots')
        parser.add_argument(f'--galaxy-{side}', default=None, metavar='NAME',
                            help=f"only the rows of {upper} whose 'galaxy' is NAME (default: "
                                 f"those of the other catalogue's galaxy when {upper} holds "
                                 f"several, e.g. a StarcNet predictions.csv)")
        add_position_arguments(parser, side=side, choose=False)
    matching = parser.add_argument_group(
        'matching', 'Catalogues on one pixel grid are matched by pixel position; catalogues '
                    'of different mosaics (told by their readers, or by their sky positions) '
                    'on the sky. Matches are one-to-one (mutual nearest neighbours).')
    matching.add_argument('--match', choices=('auto', 'pixel', 'sky', 'id'), default='auto',
                          help="'auto' (default): pixels when A and B share a pixel grid, "
                               "else the sky; 'id': equal values of --id-column")
    matching.add_argument('--radius', type=float, default=None,
                          help=f'matching radius in pixels (default {DEFAULT_RADIUS:g}), or in '
                               f'arcsec with --match sky (default {DEFAULT_RADIUS:g} px at the '
                               f'pixel scale of the catalogues)')
    matching.add_argument('--sky', action='store_true', help='the same as --match sky')
    matching.add_argument('--id-column', nargs='+', default=None, metavar='NAME',
                          help="with --match id: the id column of both catalogues, or of A "
                               "and of B (default 'id')")
    matching.add_argument('--footprint', choices=('none', 'hull'), default='none',
                          help="'hull': only objects inside the other catalogue's convex hull")
    parser.add_argument('--property', action='append', default=None, dest='properties',
                        metavar='COLUMN',
                        help='agreement versus this column of A (repeatable; default '
                             'mag_F555W when present)')
    parser.add_argument('--n-bins', type=int, default=4,
                        help='equal-number bins for agreement versus a property')
    parser.add_argument('--dpi', type=int, default=100, help='resolution of the PNG plots')
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
                        help='write into an existing, non-empty folder, replacing files of '
                             'the same names')
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

    StarcNet's predictions against the LEGUS human classes of NGC 1566 (the
    three-human mode is column 36 of that catalogue)::

        clusterclass compare hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab \\
            predictions.csv --class-column-a 36 -o starcnet_vs_humans
    """
    import matplotlib
    matplotlib.use('Agg')  # files only; never open a window
    from .._utils.files import atomic_folder
    from ..visualization import plot_comparison

    check_output_folder(args)
    tbl_a = catalog_from_args(args, side='a')
    tbl_b = catalog_from_args(args, side='b')
    tbl_a, tbl_b = _select_fields(args, tbl_a, tbl_b)
    column_a, column_b, same = _check_arguments(args, tbl_a, tbl_b)
    radius, id_column = (None, None) if same else _matching(args, tbl_a, tbl_b)
    result = compare_catalogs(
        tbl_a, None if same else tbl_b, class_column_a=column_a,
        class_column_b=column_b, name_a=args.name_a or None, name_b=args.name_b or None,
        radius=radius if radius is not None else DEFAULT_RADIUS, id_column=id_column,
        footprint=None if args.footprint == 'none' else args.footprint,
        properties=args.properties, n_bins=args.n_bins,
        distance_modulus=args.distance * u.Mpc if args.distance is not None
        else args.distance_modulus,
        option_names={'radius': '--radius', 'id_column': '--id-column', 'n_bins': '--n-bins'})
    track = read_bc03_track(args.track) if args.track else None
    # Written into a temporary folder, moved into place when complete.
    with atomic_folder(args.output) as tmp:
        figures = plot_comparison(result, track=track, output_dir=tmp, dpi=args.dpi)
        written = [os.path.relpath(p, tmp) for p in result.write(tmp)]
    written += list(figures)
    print(result.summary())
    print(f'wrote {len(written)} files to {args.output}')


def _class_column(args, tbl, side):
    _, given = split_class_column(getattr(args, f'class_column_{side}'))
    if given is not None:
        return given
    return tbl.meta.get('class_column') or 'class'


def _check_arguments(args, tbl_a, tbl_b):
    """Errors that name the command-line flags; the class columns and whether A is B."""
    columns = {}
    for tbl, side in ((tbl_a, 'a'), (tbl_b, 'b')):
        column = columns[side] = _class_column(args, tbl, side)
        if column not in tbl.colnames:
            msg = (f'--class-column-{side}={column!r} is not a column of catalogue '
                   f'{side.upper()}; its columns are {tbl.colnames}')
            raise ValueError(msg)
    if args.name_a and args.name_a == args.name_b:
        msg = f'--name-a and --name-b must differ, both are {args.name_a!r}'
        raise ValueError(msg)
    numbers = [split_class_column(getattr(args, f'class_column_{side}'))[0] for side in 'ab']
    same = os.path.samefile(args.catalog_a, args.catalog_b) and \
        numbers[0] == numbers[1] and args.galaxy_a == args.galaxy_b
    if same and columns['a'] == columns['b']:
        msg = ('A and B are the same catalogue: give different --class-column-a and '
               '--class-column-b')
        raise ValueError(msg)
    for prop in args.properties or ():
        if prop not in tbl_a.colnames:
            msg = f'--property {prop!r} is not a column of catalogue A'
            raise ValueError(msg)
    if args.radius is not None and not (np.isfinite(args.radius) and args.radius > 0):
        msg = f'--radius must be positive, got {args.radius}'
        raise ValueError(msg)
    return columns['a'], columns['b'], same


def _galaxies(tbl):
    if 'galaxy' not in tbl.colnames or len(tbl) == 0:
        return []
    return sorted({str(g).strip().lower() for g in tbl['galaxy']} - {''})


def _keep_galaxy(tbl, galaxy, side):
    names = np.char.lower(np.char.strip(np.asarray(tbl['galaxy'], dtype=str)))
    keep = names == galaxy.lower()
    if not keep.any():
        msg = (f'--galaxy-{side} {galaxy}: catalogue {side.upper()} has no rows of this galaxy; '
               f'it holds {_galaxies(tbl)}')
        raise ValueError(msg)
    out = tbl[keep]
    out.meta['galaxy'] = galaxy.lower()
    if str(out.meta.get('format', '')).startswith('starcnet'):
        out.meta['pixel_frame'] = f'LEGUS {galaxy.lower()}'
    return out


def _select_fields(args, tbl_a, tbl_b):
    """The rows of one galaxy of a catalogue holding several (--galaxy-a/-b or the other's)."""
    tables = {'a': tbl_a, 'b': tbl_b}
    for side, other in (('a', 'b'), ('b', 'a')):
        tbl = tables[side]
        galaxy = getattr(args, f'galaxy_{side}')
        if galaxy is not None:
            if 'galaxy' not in tbl.colnames:
                msg = f"--galaxy-{side}: catalogue {side.upper()} has no 'galaxy' column"
                raise ValueError(msg)
        elif len(_galaxies(tbl)) > 1:
            galaxy = tables[other].meta.get('galaxy')
            if not galaxy or str(galaxy).lower() not in _galaxies(tbl):
                msg = (f'catalogue {side.upper()} holds rows of several galaxies '
                       f'{_galaxies(tbl)}, on different pixel grids: choose one with '
                       f'--galaxy-{side}')
                raise ValueError(msg)
        if galaxy is not None:
            before = len(tbl)
            tables[side] = _keep_galaxy(tbl, str(galaxy), side)
            print(f'{side.upper()}: the {len(tables[side])} rows of galaxy {galaxy} '
                  f'(of {before})')
    return tables['a'], tables['b']


def _pixel_scale(tbl):
    """Arcsec per pixel of a catalogue: recorded by its reader, or measured from it."""
    recorded = tbl.meta.get('pixel_scale_arcsec')
    if recorded:
        return float(recorded) * u.arcsec, 'recorded by its reader'
    try:
        coords = sky_coordinates(tbl)
        x, y = pixel_positions(tbl, use='pixel')
    except (ValueError, TypeError):
        return None, None
    if coords is None:
        return None, None
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(ok) < 10:
        return None, None
    rng = np.random.default_rng(0)
    i, j = rng.choice(ok, 500), rng.choice(ok, 500)
    pixels = np.hypot(x[i] - x[j], y[i] - y[j])
    use = pixels > 50  # far enough apart for rounded positions not to matter
    if use.sum() < 10:
        return None, None
    ratio = coords[i[use]].separation(coords[j[use]]).to_value(u.arcsec) / pixels[use]
    return float(np.median(ratio)) * u.arcsec, 'measured from its pixel and sky positions'


def _sky_radius(args, tbl_a, tbl_b):
    """The sky radius of --radius pixels, and how it was found."""
    pixels = DEFAULT_RADIUS if args.radius is None else args.radius
    for name, tbl in (('A', tbl_a), ('B', tbl_b)):
        scale, how = _pixel_scale(tbl)
        if scale is not None:
            return pixels * scale, f'{pixels:g} px of {scale.value:.4f} arcsec, {how} ({name})'
    return pixels * DEFAULT_PIXEL_SCALE, (f'{pixels:g} px of {DEFAULT_PIXEL_SCALE.value:g} '
                                          f'arcsec, the HST drizzled pixel')


def _has_sky(tbl):
    try:
        return sky_coordinates(tbl) is not None
    except (ValueError, TypeError):
        return False


def _has_pixels(tbl):
    try:
        pixel_positions(tbl, use='pixel')
    except (ValueError, TypeError):
        return False
    return True


def _grids(tbl_a, tbl_b):
    """Why A and B are on different pixel grids, or None when nothing says so."""
    fa, fb = pixel_frame(tbl_a), pixel_frame(tbl_b)
    if fa is not None and fb is not None and fa.lower() != fb.lower():
        return f'A is on the pixel grid of {fa}, B on that of {fb}'
    offset = pixel_grid_offset(tbl_a, tbl_b)
    if offset is not None and np.hypot(*offset) > 2:
        return (f'the same objects, paired on the sky, lie (dx={offset[0]:+.1f}, '
                f'dy={offset[1]:+.1f}) px apart in their pixel positions')
    return None


def _matching(args, tbl_a, tbl_b):
    """(radius, id_column) of the comparison, with a line saying how A and B are matched."""
    mode = args.match
    if args.sky:
        if mode not in ('auto', 'sky'):
            msg = f'--sky and --match {mode} contradict each other'
            raise ValueError(msg)
        mode = 'sky'
    if args.id_column is not None and mode != 'id':
        msg = '--id-column needs --match id'
        raise ValueError(msg)
    if mode == 'id':
        names = args.id_column or ['id']
        if len(names) > 2:
            msg = f'--id-column takes one name, or one for A and one for B; got {names}'
            raise ValueError(msg)
        print(f'matching A and B by the id column {" / ".join(names)}')
        return None, names[0] if len(names) == 1 else tuple(names)
    different = _grids(tbl_a, tbl_b)
    if mode == 'pixel' or (mode == 'auto' and different is None
                           and _has_pixels(tbl_a) and _has_pixels(tbl_b)):
        if different is not None:
            msg = (f'--match pixel: A and B are on different pixel grids ({different}); their '
                   f'pixel positions cannot be compared. Use --match sky (or auto) or '
                   f'--match id')
            raise ValueError(msg)
        radius = DEFAULT_RADIUS if args.radius is None else args.radius
        print(f'matching A and B by pixel position within {radius:g} px')
        return radius, None
    for name, tbl in (('A', tbl_a), ('B', tbl_b)):
        if not _has_sky(tbl):
            why = f'they are on different pixel grids ({different})' if different else \
                'they do not both have pixel positions'
            msg = (f'A and B cannot be matched by pixel position ({why}), and catalogue {name} '
                   f'has no sky positions: name its RA/Dec columns (--ra-column-'
                   f'{name.lower()}/--dec-column-{name.lower()}) or match by id (--match id)')
            raise ValueError(msg)
    if mode == 'sky' and args.radius is not None:
        radius, how = args.radius * u.arcsec, '--radius in arcsec'
    else:
        radius, how = _sky_radius(args, tbl_a, tbl_b)
    why = f' because {different}' if different and mode == 'auto' else ''
    print(f'matching A and B on the sky within {radius.to_value(u.arcsec):.4f} arcsec '
          f'({how}){why}')
    return radius, None

"""
Helpers shared by the subcommands.

The library is imported inside the functions, so that building a
subcommand's parser stays quick.
"""

import os

from .._utils.files import check_writable

__all__ = ['read_catalog', 'catalog_from_args', 'add_catalog_arguments',
           'add_position_arguments', 'add_image_arguments', 'position_names',
           'position_columns', 'split_class_column', 'class_column_name',
           'check_output_file', 'check_output_folder', 'check_table_output', 'progress',
           'OUTPUT_FLAG', 'place_candidates']

#: How the output option is called in error messages.
OUTPUT_FLAG = '-o/--output'


def position_names(side=None):
    """
    How the position options are called on the command line, for error messages.

    ``side`` is ``'a'`` or ``'b'`` for the per-catalogue flags of ``compare``.

    Examples
    --------
    >>> from astro_clusterclass.cli._common import position_names
    >>> position_names('b')['pixel_origin'].format(1)
    '--pixel-origin-b 1'
    """
    s = f'-{side}' if side else ''
    names = {
        'pixel_origin': f'--pixel-origin{s} {{}}',
        'pixel_columns': f'--x-column{s} NAME --y-column{s} NAME',
        'sky_columns': f'--ra-column{s} NAME --dec-column{s} NAME',
        'x_column': f'--x-column{s} {{}}',
        'y_column': f'--y-column{s} {{}}',
        'ra_column': f'--ra-column{s} {{}}',
        'dec_column': f'--dec-column{s} {{}}',
        'wcs': 'images with a WCS',
    }
    if not side:
        names['use'] = '--positions {}'
    else:
        names['use'] = '--match {}'
    return names


def add_position_arguments(parser, *, side=None, choose=True):
    """
    Add the options that name a catalogue's positions and their pixel origin.

    With ``choose``, also ``--positions {auto,pixel,sky}``.
    """
    s = f'-{side}' if side else ''
    of = f' of {side.upper()}' if side else ''
    group = parser.add_argument_group(
        f'positions{of}',
        'Pixel columns x/y (or xcentroid/ycentroid, x_0/y_0, X_IMAGE/Y_IMAGE...) and a sky '
        'column (SkyCoord, or floats ra/dec, RA/DEC, RAJ2000/DEJ2000, ALPHA_J2000/'
        'DELTA_J2000, PHANGS_RA/PHANGS_DEC: degrees unless their unit says otherwise) are '
        'found by their names; name others here. The package counts pixels from 0; LEGUS, '
        'DS9, IRAF, SExtractor and StarcNet count from 1 (their readers convert).')
    group.add_argument(f'--x-column{s}', default=None, metavar='NAME',
                       help=f'pixel x column{of}')
    group.add_argument(f'--y-column{s}', default=None, metavar='NAME',
                       help=f'pixel y column{of}')
    group.add_argument(f'--ra-column{s}', default=None, metavar='NAME',
                       help=f'right ascension column{of} (float, degrees unless its unit says)')
    group.add_argument(f'--dec-column{s}', default=None, metavar='NAME',
                       help=f'declination column{of}')
    group.add_argument(f'--pixel-origin{s}', type=int, choices=(0, 1), default=None,
                       help=f'origin of the pixel columns{of}: 0 (astropy, PHANGS-HST) or 1 '
                            f'(FITS, DS9, IRAF); default 0 (1 for X_IMAGE/Y_IMAGE)')
    if choose:
        group.add_argument('--positions', choices=('auto', 'pixel', 'sky'), default='auto',
                           help="which positions place the candidates: 'auto' uses the "
                                'pixel columns, after checking them against the sky '
                                "positions through the images' WCS when there are both; "
                                "'pixel' or 'sky' choose without the check")


def add_catalog_arguments(parser, *, positions=False, class_name=False):
    """
    Add the CATALOG argument and the options used to read it.

    With ``positions``, also the position options (`add_position_arguments`);
    the command then reads its catalogue with `catalog_from_args`. With
    ``class_name``, ``--class-column`` names the column of classes the
    command uses (or numbers it, for LEGUS; `class_column_name`).
    """
    parser.add_argument('catalog', metavar='CATALOG',
                        help='candidate catalogue (LEGUS .tab, PHANGS-HST release FITS, '
                             'StarcNet predictions.csv, ECSV, FITS, CSV...)')
    parser.add_argument('--format', default=None,
                        help="astropy table format of CATALOG (default: guessed; LEGUS "
                             "files named hlsp_legus_*.tab, PHANGS-HST release catalogues "
                             "and StarcNet outputs are recognised; 'legus', 'phangs', "
                             "'starcnet' name them)")
    if class_name:
        parser.add_argument('--class-column', default=None, metavar='NAME_OR_N',
                            help="column holding the classes (default: the catalogue's "
                                 "class column, else 'class'); a number N is the 1-based "
                                 'column of a LEGUS .tab file')
    else:
        parser.add_argument('--class-column', type=int, default=None, metavar='N',
                            help='LEGUS only: 1-based number of the class column, for '
                                 'layouts the reader cannot identify by itself')
    if positions:
        add_position_arguments(parser)


def add_image_arguments(parser):
    """Add the five IMAGE arguments and ``--bands``."""
    parser.add_argument('images', metavar='IMAGE', nargs=5,
                        help='five band images (FITS); bands are read from the headers')
    parser.add_argument('--bands', nargs=5, default=None, metavar='BAND',
                        help='bands of the five images, if the headers do not say')


def read_catalog(path, *, format=None, class_column=None, x_column=None, y_column=None,
                 ra_column=None, dec_column=None, pixel_origin=None, side=None):
    """
    Read a candidate catalogue into a QTable with the package's position conventions.

    The positions are standardized at this boundary
    (`~astro_clusterclass.tables.standardize_positions`): named or 1-based
    pixel columns become 0-based ``x``/``y``, float RA/Dec columns one
    SkyCoord ``coord``; errors name the command-line flags (of ``side``
    ``'a'``/``'b'`` for ``compare``).
    """
    from astropy.table import QTable

    from .. import io  # noqa: F401  (registers format='legus', 'phangs', 'starcnet')
    from ..tables import standardize_positions

    if not os.path.exists(path):
        msg = f'catalogue {path!r} does not exist'
        raise FileNotFoundError(msg)
    kwargs = {}
    if class_column is not None:
        kwargs['class_column'] = class_column
        format = format or 'legus'
    if format is not None:
        kwargs['format'] = format
    try:
        tbl = QTable.read(path, **kwargs)
    except (ValueError, TypeError, KeyError, IndexError, OSError, UnicodeDecodeError) as exc:
        # A damaged file's parser error (truncated YAML header, ragged rows) rarely says
        # which file it was reading.
        text = str(exc)
        if os.fspath(path) in text or os.path.basename(path) in text:
            raise
        how = f" as format={kwargs['format']!r}" if 'format' in kwargs else ''
        msg = f'cannot read catalogue {os.fspath(path)!r}{how}: {text or type(exc).__name__}'
        raise ValueError(msg) from exc
    return standardize_positions(tbl, x_column=x_column, y_column=y_column,
                                 ra_column=ra_column, dec_column=dec_column,
                                 pixel_origin=pixel_origin, option_names=position_names(side))


def catalog_from_args(args, *, side=None):
    """Read ``args.catalog`` (or ``args.catalog_<side>``) with the parsed options."""
    s = f'_{side}' if side else ''

    def get(name):
        return getattr(args, f'{name}{s}', None)

    number, _ = split_class_column(get('class_column'))
    return read_catalog(get('catalog'), format=get('format'), class_column=number,
                        x_column=get('x_column'), y_column=get('y_column'),
                        ra_column=get('ra_column'), dec_column=get('dec_column'),
                        pixel_origin=get('pixel_origin'), side=side)


def position_columns(tbl, use):
    """
    ``columns=`` for the library functions after the command checked the positions.

    ``'sky'``: the SkyCoord column; ``'pixel'``: the pixel pair found;
    ``'auto'``: None (the library finds, and checks, them again).
    """
    from ..tables import PIXEL_COLUMN_PAIRS, sky_column

    if use == 'sky':
        name = sky_column(tbl)
        return (name,) if name is not None else None
    if use == 'pixel':
        for pair in PIXEL_COLUMN_PAIRS:  # 1-based pairs became x/y when read
            if pair[0] in tbl.colnames and pair[1] in tbl.colnames:
                return pair
    return None


def split_class_column(value):
    """
    ``(legus_number, name)`` of a ``--class-column`` value: a number is a LEGUS column.

    Examples
    --------
    >>> from astro_clusterclass.cli._common import split_class_column
    >>> split_class_column('36'), split_class_column('class_mode'), split_class_column(None)
    ((36, None), (None, 'class_mode'), (None, None))
    """
    if value is None:
        return None, None
    if isinstance(value, int) or str(value).strip().isdigit():
        return int(value), None
    return None, str(value)


def class_column_name(value, tbl):
    """The class column a command uses: named by ``value``, else the catalogue's own."""
    _, name = split_class_column(value)
    return name or tbl.meta.get('class_column') or 'class'


def check_output_file(args, *, extensions=None, path=None):
    """Refuse ``-o`` (or ``path``) before the work: it exists, its folder, its extension."""
    return check_writable(args.output if path is None else path,
                          overwrite=getattr(args, 'overwrite', False), parameter=OUTPUT_FLAG,
                          flag='--overwrite', extensions=extensions)


def check_output_folder(args, *, path=None):
    """Refuse an output folder before the work: not empty (without --overwrite), no parent."""
    return check_writable(args.output if path is None else path,
                          overwrite=getattr(args, 'overwrite', False), parameter=OUTPUT_FLAG,
                          flag='--overwrite', folder=True)


def check_table_output(args, *, path=None):
    """`check_output_file` for a table, whose format astropy must know from the extension."""
    from astropy.io import registry
    from astropy.table import QTable

    path = check_output_file(args, path=path)
    formats = registry.identify_format('write', QTable, path, None, [], {})
    if len(formats) != 1:
        why = 'unknown extension' if not formats else f'ambiguous extension ({formats})'
        msg = (f'{OUTPUT_FLAG}: cannot write {path!r}: {why}; use .fits, .ecsv, .csv, '
               f'.hdf5, .vot or .parquet')
        raise ValueError(msg)
    return path


def progress(args):
    """Whether to draw progress bars: not ``--no-progress``, not ``-q``, stderr a terminal."""
    from .._utils.log import show_progress

    return show_progress(not getattr(args, 'no_progress', False)
                         and not getattr(args, 'quiet', False))


def place_candidates(tbl, images, use):
    """
    ``tbl`` with 0-based ``x``/``y`` of the positions ``--positions`` chose, on the images.

    For the library functions that read ``x``/``y`` only; errors name the flags.
    """
    from ..tables import check_on_image, pixel_positions

    names = position_names()
    x, y = pixel_positions(tbl, wcs=images.wcs, use=use, option_names=names)
    check_on_image(x, y, images.shape, option_names=names)
    tbl = tbl.copy(copy_data=False)
    tbl['x'], tbl['y'] = x, y
    return tbl

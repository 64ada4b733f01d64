"""Helpers shared by the subcommands."""

import os

from astropy.table import QTable

from .. import io  # noqa: F401  (registers format='legus')

__all__ = ['read_catalog', 'add_catalog_arguments', 'add_image_arguments']


def add_catalog_arguments(parser):
    """Add the CATALOG argument and the options used to read it."""
    parser.add_argument('catalog', metavar='CATALOG',
                        help='candidate catalogue (LEGUS .tab, ECSV, FITS, ...)')
    parser.add_argument('--format', default=None,
                        help="astropy table format of CATALOG (default: guessed; "
                             "LEGUS files named hlsp_legus_*.tab are recognised)")
    parser.add_argument('--class-column', type=int, default=None, metavar='N',
                        help='LEGUS only: 1-based number of the class column, for '
                             'layouts the reader cannot identify by itself')


def add_image_arguments(parser):
    """Add the five IMAGE arguments and ``--bands``."""
    parser.add_argument('images', metavar='IMAGE', nargs=5,
                        help='five band images (FITS); bands are read from the headers')
    parser.add_argument('--bands', nargs=5, default=None, metavar='BAND',
                        help='bands of the five images, if the headers do not say')


def read_catalog(path, *, format=None, class_column=None):
    """Read a candidate catalogue into a QTable."""
    if not os.path.exists(path):
        msg = f'catalogue {path!r} does not exist'
        raise FileNotFoundError(msg)
    kwargs = {}
    if class_column is not None:
        kwargs['class_column'] = class_column
        format = format or 'legus'
    if format is not None:
        kwargs['format'] = format
    return QTable.read(path, **kwargs)

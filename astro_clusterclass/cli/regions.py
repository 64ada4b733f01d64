"""``clusterclass regions``: DS9 region file of a catalogue, coloured by class."""

from ..ds9 import PAPER_MAGNITUDE_RADII, write_ds9_regions
from ._common import add_catalog_arguments, read_catalog

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'regions', help='write a DS9 region file coloured by class',
        description='Write one DS9 circle per candidate: class 1 red, 2 green, '
                    '3 blue, 4 yellow; unclassified rows white dashed.')
    add_catalog_arguments(parser)
    parser.add_argument('-o', '--output', required=True, help='output .reg file')
    parser.add_argument('--column', default=None,
                        help='table column holding the class (default: the '
                             "catalogue's class column)")
    parser.add_argument('--coordinates', choices=('pixel', 'sky'), default='pixel')
    parser.add_argument('--radius', type=float, default=5.0, help='radius in pixels')
    parser.add_argument('--paper-radii', action='store_true',
                        help='large circles for 20 < V < 23.5, small for 23.5 < V < 24.5')
    parser.add_argument('--label', default=None,
                        help="text next to each circle: 'id', 'class' or a column name")
    parser.add_argument('--overwrite', action='store_true')
    parser.set_defaults(func=run)


def run(args):
    tbl = read_catalog(args.catalog, format=args.format, class_column=args.class_column)
    regions = write_ds9_regions(
        tbl, args.output, class_column=args.column, coordinates=args.coordinates,
        radius=args.radius,
        radius_by_magnitude=PAPER_MAGNITUDE_RADII if args.paper_radii else None,
        label=args.label, overwrite=args.overwrite)
    print(f'wrote {len(regions)} regions for {len(tbl)} rows to {args.output}')

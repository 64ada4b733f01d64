"""``clusterclass regions``: DS9 region file of a catalogue, coloured by class."""

import argparse

from ..ds9 import CONFIDENCE_THRESHOLD, PAPER_MAGNITUDE_RADII, write_ds9_regions
from ._common import (add_catalog_arguments, add_position_arguments, catalog_from_args,
                      check_output_file, split_class_column)

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'regions', help='write a DS9 region file coloured by class',
        description='Write one DS9 circle per candidate: class 1 red, 2 green, '
                    '3 blue, 4 yellow; unclassified rows white dashed. Every circle '
                    "is in a DS9 group ('class 1' ... 'class 4', 'class 4.1' for "
                    "subclasses, 'unclassified', 'low confidence'), listed in DS9's "
                    'Region > Groups dialog.')
    add_catalog_arguments(parser, class_name=True)
    add_position_arguments(parser, choose=False)
    parser.add_argument('-o', '--output', required=True, metavar='FILE.reg',
                        help='output DS9 region file')
    # The name of earlier versions.
    parser.add_argument('--column', dest='class_column', help=argparse.SUPPRESS)
    parser.add_argument('--coordinates', choices=('pixel', 'sky'), default='pixel',
                        help='image pixels, or ICRS with radii in arcsec')
    parser.add_argument('--radius', type=float, default=5.0, help='radius in pixels')
    parser.add_argument('--paper-radii', action='store_true',
                        help='large circles for 20 < V < 23.5, small for 23.5 < V < 24.5')
    parser.add_argument('--label', default=None,
                        help="text next to each circle: 'id', 'class' or a column name")
    parser.add_argument('--confidence', default='auto', metavar='COLUMN',
                        help="column with the confidence (0-1) of each class; 'auto' "
                             '(default): the probability of the class from the prob_1 ... '
                             "prob_4 columns when present; 'none': no confidence")
    parser.add_argument('--confidence-threshold', type=float, default=CONFIDENCE_THRESHOLD,
                        help='circles whose confidence is below it are dashed and in the '
                             f"'low confidence' group (default {CONFIDENCE_THRESHOLD})")
    parser.add_argument('--show-confidence', action='store_true',
                        help='add the confidence to the text of each circle')
    parser.add_argument('--subclass-column', default='auto',
                        help="column of subclasses ('4.1'...) giving groups 'class 4.1'...; "
                             "'auto' (default): a 'subclass' column if there is one; 'none'")
    parser.add_argument('--overwrite', action='store_true')
    parser.set_defaults(func=run)


def _none(value):
    return None if value is not None and value.lower() == 'none' else value


def run(args):
    check_output_file(args, extensions=('.reg',))
    tbl = catalog_from_args(args)
    name = split_class_column(args.class_column)[1]
    if name is not None and name not in tbl.colnames:
        msg = f'--class-column {name!r} is not a column of CATALOG; its columns are {tbl.colnames}'
        raise ValueError(msg)
    regions = write_ds9_regions(
        tbl, args.output, class_column=name,
        coordinates=args.coordinates,
        radius=args.radius,
        radius_by_magnitude=PAPER_MAGNITUDE_RADII if args.paper_radii else None,
        label=args.label, confidence=_none(args.confidence),
        confidence_threshold=args.confidence_threshold,
        confidence_label=args.show_confidence,
        subclass_column=_none(args.subclass_column), overwrite=args.overwrite)
    print(f'wrote {len(regions)} regions for {len(tbl)} rows to {args.output}')

"""``clusterclass cutouts``: five-band stamps of every candidate."""

import os

import numpy as np
from astropy.table import QTable

from ..cutouts import CutoutFlag, make_cutouts
from ..images import load_images
from ..io.cutout_fits import TUTORIAL_SIZE, write_cutout_fits
from ._common import add_catalog_arguments, add_image_arguments, read_catalog

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'cutouts', help='cut five-band stamps around every candidate',
        description='Cut one stamp per candidate from five aligned band images. '
                    'Writes one multi-extension FITS file per candidate (the '
                    'PHANGS-HST tutorial format) or a single .npz array, plus '
                    'cutouts.ecsv listing each candidate and its flags.')
    add_catalog_arguments(parser)
    add_image_arguments(parser)
    parser.add_argument('-o', '--output', required=True, help='output directory')
    parser.add_argument('--size', type=int, default=TUTORIAL_SIZE,
                        help=f'stamp size in pixels (default {TUTORIAL_SIZE})')
    parser.add_argument('--npz', action='store_true',
                        help='write one cutouts.npz (N, 5, S, S) instead of MEF files')
    parser.add_argument('--overwrite', action='store_true')
    parser.set_defaults(func=run)


def run(args):
    tbl = read_catalog(args.catalog, format=args.format, class_column=args.class_column)
    with load_images(args.images, bands=args.bands) as images:
        stamps = make_cutouts(images, tbl, size=args.size)
    os.makedirs(args.output, exist_ok=True)
    summary = QTable({'id': stamps.ids, 'x': stamps.x, 'y': stamps.y,
                      'flags': stamps.flags,
                      'flag_names': [CutoutFlag.describe(f) for f in stamps.flags]})
    if args.npz:
        np.savez(os.path.join(args.output, 'cutouts.npz'), data=stamps.data,
                 flags=stamps.flags, ids=stamps.ids)
    else:
        summary['file'] = [os.path.basename(p) for p in
                           write_cutout_fits(stamps, args.output, overwrite=args.overwrite)]
    summary.write(os.path.join(args.output, 'cutouts.ecsv'), overwrite=True)
    flagged = int(np.count_nonzero(stamps.flags))
    print(f'cut {len(stamps)} stamps of {args.size} px ({flagged} flagged) into {args.output}')

"""``clusterclass review``: label candidates by eye in the browser; export the labels."""

from ._common import (OUTPUT_FLAG, add_position_arguments, catalog_from_args,
                      check_table_output)

__all__ = ['add_parser', 'run', 'queue_options']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'review', help='label candidates by eye in the browser; export the labels',
        description='Start the review application on CATALOG and its five images: a local '
                    'web page (address and access token printed) where one or several '
                    'people label candidates with the keyboard; every label is committed '
                    'to the SQLite database --db before the page shows it saved. Ctrl-C '
                    'stops it. With --export DB, write the catalog with the review columns '
                    '(class_human, subclass_human, n_reviews, reviewers, review_tie) '
                    'instead; `clusterclass train` reads that table directly.',
        epilog='examples:\n'
               '  clusterclass review field_candidates.ecsv field_f*.fits --db labels.sqlite\n'
               '  clusterclass review cat.ecsv f275w.fits ... --db labels.sqlite --blind '
               '--queue brightest --mag-range 18 23\n'
               '  clusterclass review --export labels.sqlite -o labelled.ecsv')
    parser.add_argument('catalog', metavar='CATALOG', nargs='?', default=None,
                        help='candidate catalogue (LEGUS .tab, PHANGS-HST FITS, ECSV...); '
                             'with --export, optional: the catalogue the database records '
                             'is read otherwise')
    parser.add_argument('images', metavar='IMAGE', nargs='*', default=[],
                        help='the five band images (FITS; bands from the headers)')
    parser.add_argument('--bands', nargs=5, default=None, metavar='BAND',
                        help='bands of the five images, if the headers do not say')
    parser.add_argument('--format', default=None,
                        help='astropy table format of CATALOG (default: guessed)')
    parser.add_argument('--class-column', type=int, default=None, metavar='N',
                        help='LEGUS only: 1-based number of the class column')
    add_position_arguments(parser)
    parser.add_argument('--db', default=None, metavar='FILE',
                        help='label database (SQLite; created when missing, refused when it '
                             'belongs to another catalogue)')
    parser.add_argument('--id-column', default='id', metavar='NAME',
                        help='column of unique candidate ids')
    parser.add_argument('--reviewer', default=None, metavar='NAME',
                        help='reviewer name the page starts with (each page can change it); '
                             'default: your login name')
    parser.add_argument('--blind', action='store_true',
                        help="hide the machine's classes and probabilities and the other "
                             "reviewers' labels")
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (the default is reachable from this '
                             'computer only; 0.0.0.0 opens it to the network, still behind '
                             'the token)')
    parser.add_argument('--port', type=int, default=0, help='port (0: any free port)')
    queue = parser.add_argument_group('queue', 'the order the page starts with (it can '
                                               'change it)')
    queue.add_argument('--queue', nargs='+', default=['doubtful'], metavar=('ORDER', 'ARG'),
                       help="doubtful (lowest quality, highest entropy, smallest margin "
                            "first), 'disagreement COLUMN_A COLUMN_B', brightest, "
                            "'random [SEED]' or catalog")
    queue.add_argument('--unreviewed', action='store_true',
                       help='only candidates the reviewer has not labelled')
    queue.add_argument('--only-class', type=int, default=None, choices=(1, 2, 3, 4),
                       help='only candidates of this class in --queue-class-column')
    queue.add_argument('--queue-class-column', default=None, metavar='NAME',
                       help='class column of --only-class (default: the machine classes)')
    queue.add_argument('--mag-range', nargs=2, type=float, default=None,
                       metavar=('BRIGHT', 'FAINT'), help='only candidates in this magnitude range')
    queue.add_argument('--mag-column', default=None, metavar='NAME',
                       help='magnitude column of --mag-range and brightest (default: V band)')
    queue.add_argument('--region', nargs='+', default=None, metavar='BOX_OR_FILE',
                       help='only candidates inside XMIN XMAX YMIN YMAX (0-based pixels) or '
                            'inside the first region of a DS9 region file')
    export = parser.add_argument_group('export')
    export.add_argument('--export', default=None, metavar='DB',
                        help='write the labelled catalogue of database DB to -o and exit')
    export.add_argument('-o', '--output', default=None, metavar='TABLE',
                        help='with --export: output table (.ecsv, .fits...)')
    export.add_argument('--overwrite', action='store_true',
                        help='with --export: replace an existing output table (written to a '
                             'temporary file first)')
    parser.set_defaults(func=run)


def queue_options(args):
    """The ``queue_options`` of `~astro_clusterclass.review.ReviewApp` from the parsed flags."""
    order, *rest = args.queue
    options = {'order': order}
    if order == 'disagreement':
        if len(rest) != 2:
            msg = f'--queue disagreement needs two class columns, got {rest}'
            raise ValueError(msg)
        options['columns'] = tuple(rest)
    elif order == 'random':
        if len(rest) > 1:
            msg = f'--queue random takes at most a seed, got {rest}'
            raise ValueError(msg)
        if rest:
            try:
                options['seed'] = int(rest[0])
            except ValueError:
                msg = f'--queue random: the seed must be an integer, got {rest[0]!r}'
                raise ValueError(msg) from None
    elif rest:
        msg = f'--queue {order} takes no arguments, got {rest}'
        raise ValueError(msg)
    if args.unreviewed:
        options['unreviewed'] = True
    if args.only_class is not None:
        options['only_class'] = args.only_class
        if args.queue_class_column:
            options['class_column'] = args.queue_class_column
    elif args.queue_class_column:
        msg = '--queue-class-column is used with --only-class only'
        raise ValueError(msg)
    if args.mag_range is not None:
        options['mag_range'] = tuple(args.mag_range)
    if args.mag_column:
        options['mag_column'] = args.mag_column
    if args.region is not None:
        options['region'] = _region(args.region)
    return options


def _region(values):
    import math
    import os

    if len(values) == 4:
        try:
            box = tuple(float(v) for v in values)
        except ValueError:
            box = None
        if box is not None:
            if not all(math.isfinite(v) for v in box) or box[0] >= box[1] or box[2] >= box[3]:
                msg = f'--region: XMIN XMAX YMIN YMAX must be finite and increasing, got {values}'
                raise ValueError(msg)
            return box
    if len(values) != 1:
        msg = f'--region takes XMIN XMAX YMIN YMAX or one region file, got {values}'
        raise ValueError(msg)
    path = values[0]
    if not os.path.exists(path):
        msg = f'--region: region file {path!r} does not exist'
        raise FileNotFoundError(msg)
    from regions import Regions

    try:
        regions = Regions.read(path, format='ds9')
    except Exception as exc:  # noqa: BLE001  (any parse error, named)
        msg = f'--region: cannot read {path!r} as a DS9 region file: {exc}'
        raise ValueError(msg) from None
    if not len(regions):
        msg = f'--region: {path!r} holds no region'
        raise ValueError(msg)
    return regions[0]


def run(args):
    if args.export is not None:
        return _export(args)
    return _serve(args)


def _export(args):
    import os

    import numpy as np

    from ..io import write_table
    from ..review import export_labels

    if args.output is None:
        msg = f'--export needs {OUTPUT_FLAG}: the table to write'
        raise ValueError(msg)
    if args.images:
        msg = '--export takes no IMAGE arguments (only the database, and optionally CATALOG)'
        raise ValueError(msg)
    if not os.path.exists(args.export):
        msg = f'--export: label database {args.export!r} does not exist'
        raise FileNotFoundError(msg)
    check_table_output(args)
    catalog = catalog_from_args(args) if args.catalog else None
    out = export_labels(args.export, catalog=catalog)
    write_table(out, args.output, overwrite=args.overwrite)
    labelled = int(np.sum(~np.ma.getmaskarray(out['class_human'])))
    print(f'wrote {len(out)} rows ({labelled} with a human class) to {args.output}')


#: Library parameters of the queue, and the flags that set them.
_QUEUE_FLAGS = {'mag_column': '--mag-column', 'class_column': '--queue-class-column',
                'columns': '--queue disagreement', 'region': '--region'}


def _serve(args):
    import sys

    from ..images import load_images
    from ..review import LabelStore, serve
    from ._common import place_candidates

    if args.catalog is None:
        msg = 'give CATALOG and its five IMAGE files (or --export DB -o TABLE)'
        raise ValueError(msg)
    if len(args.images) != 5:
        msg = f'give the five band IMAGE files after CATALOG, got {len(args.images)}'
        raise ValueError(msg)
    if args.db is None:
        msg = '--db: give the label database (a new file is created)'
        raise ValueError(msg)
    if args.output is not None:
        msg = f'{OUTPUT_FLAG} is used with --export only'
        raise ValueError(msg)
    options = queue_options(args)
    tbl = catalog_from_args(args)
    quiet = getattr(args, 'quiet', False)
    # The address is what the command is for: printed even with -q (on stderr).
    out = sys.stderr if quiet else sys.stdout

    def log(text):
        print(text, file=out, flush=True)

    with load_images(args.images, bands=args.bands) as images:
        placed = place_candidates(tbl, images, args.positions)
        # The database records the catalogue as read (that is what export reads
        # again); the page works on the positions placed on the images.
        with LabelStore(args.db, catalog=tbl, images=images, catalog_path=args.catalog,
                        image_paths=list(args.images), id_column=args.id_column,
                        catalog_format=args.format) as store:
            try:
                serve(placed, images, db=store, reviewer=args.reviewer, blind=args.blind,
                      host=args.host, port=args.port, queue_options=options, log=log,
                      export_catalog=tbl)
            except ValueError as exc:
                # The starting queue is computed before the address is printed: its
                # errors are about the queue flags.
                text = str(exc)
                for option, flag in _QUEUE_FLAGS.items():
                    if text.startswith(option):
                        raise ValueError(flag + text[len(option):].replace(
                            f'{option}=', flag)) from exc
                raise

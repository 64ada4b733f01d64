"""``clusterclass calibrate``: fit a calibration of an ensemble on a labelled, classified table."""

from ._common import check_output_file

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'calibrate', help='fit a calibration of the probabilities on labelled candidates',
        description='Fit temperature (or vector) scaling of the mean probabilities of the '
                    'ensemble that classified TABLE (the output of clusterclass classify, '
                    'without --calibration) against its column of true classes, e.g. the '
                    'class_human column of a review export, and write the calibration file '
                    'that clusterclass classify --calibration FILE applies. The calibration '
                    "records the models' SHA-256: it is refused for other models.")
    parser.add_argument('table', metavar='TABLE',
                        help='classified table with a column of true classes (1-4)')
    parser.add_argument('-o', '--output', required=True, metavar='FILE.json',
                        help='calibration file to write')
    parser.add_argument('--label-column', default=None, metavar='NAME',
                        help="column of true classes (default: 'class_human' in a review "
                             "export, else 'class')")
    parser.add_argument('--method', default='temperature', choices=('temperature', 'vector'),
                        help='one temperature, or a scale and bias per class')
    parser.add_argument('--drop-unknown-labels', action='store_true',
                        help='leave out rows whose label is not 1-4 (masked, LEGUS 0) '
                             'instead of refusing the table')
    parser.add_argument('--overwrite', action='store_true')
    parser.set_defaults(func=run)


def run(args):
    from astropy.table import QTable

    from .. import io  # noqa: F401  (registers the table formats)
    from ..calibration import fit_calibration

    check_output_file(args, extensions=('.json',))
    tbl = QTable.read(args.table)
    tbl.meta.setdefault('file', args.table)
    label = args.label_column
    if label is None:
        # A review export names its consensus column (class_human, or with a suffix).
        review = tbl.meta.get('review')
        label = review.get('label_column') if isinstance(review, dict) else None
        label = label if label in tbl.colnames else 'class'
    if label not in tbl.colnames:
        msg = f'--label-column {label!r} is not a column of TABLE; its columns are {tbl.colnames}'
        raise ValueError(msg)
    try:
        cal = fit_calibration(tbl, label_column=label, method=args.method,
                              unknown_labels='drop' if args.drop_unknown_labels else 'error')
    except ValueError as exc:
        text = str(exc).replace("pass unknown_labels='drop'", 'pass --drop-unknown-labels')
        raise ValueError(text.replace('label_column', '--label-column')) from exc
    cal.save(args.output, overwrite=args.overwrite)
    print(f'{cal}; wrote {args.output} (apply it with clusterclass classify --calibration '
          f'{args.output})')

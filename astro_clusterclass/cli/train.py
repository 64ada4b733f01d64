"""``clusterclass train``: train a classifier (or an ensemble) on a labelled catalogue."""

import json

import numpy as np

# The choices of the options come from the library (and import torch): only
# ``clusterclass train`` itself builds this parser.
from ..models import list_models
from ..training import BALANCE, OPTIMIZERS, SCHEDULES
from ._common import (add_catalog_arguments, add_image_arguments, catalog_from_args,
                      check_output_file, check_output_folder, place_candidates, progress)

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    """
    Register ``clusterclass train`` on ``subparsers`` (an argparse
    subparsers action); its ``func`` default is `run`.

    Examples
    --------
    >>> import argparse
    >>> from astro_clusterclass.cli import train
    >>> subparsers = argparse.ArgumentParser(prog='clusterclass').add_subparsers()
    >>> train.add_parser(subparsers)
    >>> subparsers.choices['train'].prog
    'clusterclass train'
    """
    parser = subparsers.add_parser(
        'train', help='train a classifier on human (or simulated) labels',
        description='Train a network on the labelled candidates of CATALOG and its five '
                    'band images, as Whitmore et al. (2021, Appendix 10.2) do: random '
                    'objects per batch, random 90-degree rotations and flips, a held-out '
                    'test split. Writes a safetensors checkpoint with its training data, '
                    'settings and test metrics; an interrupted run resumes from its '
                    'resume file.')
    add_catalog_arguments(parser, positions=True)
    add_image_arguments(parser)
    parser.add_argument('-o', '--output', required=True,
                        help='checkpoint to write (.safetensors), or a folder with --ensemble')
    parser.add_argument('--label-column', default=None, metavar='NAME',
                        help="column with the classes 1-4 to learn (default 'class'; for a "
                             "table exported by 'clusterclass review', the reviewers' "
                             "consensus class_human, leaving out the rows without one)")
    parser.add_argument('--drop-unknown-labels', action='store_true',
                        help='leave out rows labelled outside 1-4 (e.g. LEGUS 0, not '
                             'inspected) instead of stopping with an error')
    parser.add_argument('-a', '--architecture', default='compactnet', choices=list_models(),
                        help='registered network architecture')
    parser.add_argument('--ensemble', type=int, default=None, metavar='N',
                        help='train N models with seeds SEED, SEED+1, ... into the folder -o')
    parser.add_argument('--init', default='random',
                        help="'random', 'imagenet' (torchvision weights) or a checkpoint to "
                             "fine-tune (default 'random')")
    parser.add_argument('--cutout-size', type=int, default=None, metavar='PX',
                        help="stamp side (default: the architecture's)")
    parser.add_argument('--n-batches', type=int, default=2000, help='training batches')
    parser.add_argument('--batch-size', type=int, default=32, help='stamps per batch')
    parser.add_argument('--lr', type=float, default=1e-3, help='(peak) learning rate')
    parser.add_argument('--optimizer', default='adamw', choices=list(OPTIMIZERS),
                        help='torch optimizer')
    parser.add_argument('--weight-decay', type=float, default=1e-4,
                        help='weight decay of the optimizer')
    parser.add_argument('--schedule', default='cosine', choices=SCHEDULES,
                        help='learning-rate schedule')
    parser.add_argument('--balance', default='sampling',
                        choices=[b for b in BALANCE if b] + ['none'],
                        help='class imbalance: equal sampling of classes (default), loss '
                             'weights, or none')
    parser.add_argument('--test-fraction', type=float, default=0.2,
                        help='fraction of the objects held out for the test metrics')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the split, sampling and initialisation')
    parser.add_argument('--checkpoint-every', type=int, default=500, metavar='N',
                        help='write the resume file every N batches (default 500)')
    parser.add_argument('--no-resume', action='store_true',
                        help='start again even if a resume file exists')
    parser.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda'")
    parser.add_argument('--precision', default='fp32', choices=('fp32', 'bf16'),
                        help='training arithmetic')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--overwrite', action='store_true')
    parser.set_defaults(func=run)


def _labels_to_learn(args, tbl):
    """``(label_column, unknown_labels)``: a review export's consensus unless told otherwise."""
    unknown = 'drop' if args.drop_unknown_labels else 'error'
    review = tbl.meta.get('review')
    if args.label_column is not None or not isinstance(review, dict) \
            or not review.get('label_column'):
        return args.label_column or 'class', unknown
    # A review export: rows nobody reviewed, and ties, have no consensus class (masked).
    column = review['label_column']
    if column in tbl.colnames:
        missing = int(np.sum(np.ma.getmaskarray(np.ma.asarray(tbl[column]))))
        print(f"review export: learning {column!r}, the reviewers' consensus; {missing} of "
              f"{len(tbl)} rows have none (not reviewed, or tied) and are left out")
    return column, 'drop'


def run(args):
    """
    Run ``clusterclass train`` with parsed arguments.

    `~astro_clusterclass.cli.main` parses the arguments and calls it.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.cli import main
    >>> work = tempfile.mkdtemp()
    >>> main(['simulate', '-o', work, '--shape', '300', '300', '--seed', '1'])  # doctest: +ELLIPSIS
    simulated 300x300 px, ...
    0
    >>> images = [os.path.join(work, f'field_{band}.fits')
    ...           for band in ('f275w', 'f336w', 'f438w', 'f555w', 'f814w')]
    >>> main(['train', os.path.join(work, 'field_truth.ecsv'), *images,
    ...       '-o', os.path.join(work, 'model.safetensors'), '--n-batches', '2',
    ...       '--batch-size', '8', '--no-progress'])  # doctest: +ELLIPSIS
    trained compactnet on ... objects, 2 batches in ...
    wrote .../model.safetensors (sha256 ...)
    ...
    0
    """
    from ..images import load_images
    from ..training import train_ensemble, train_model

    if args.ensemble is not None:
        check_output_folder(args)
    else:
        check_output_file(args, extensions=('.safetensors',))
    tbl = catalog_from_args(args)
    label_column, unknown_labels = _labels_to_learn(args, tbl)
    options = dict(label_column=label_column, unknown_labels=unknown_labels,
                   init=args.init, n_batches=args.n_batches, batch_size=args.batch_size,
                   lr=args.lr, optimizer=args.optimizer, weight_decay=args.weight_decay,
                   schedule=args.schedule,
                   balance=None if args.balance == 'none' else args.balance,
                   test_fraction=args.test_fraction, checkpoint_every=args.checkpoint_every,
                   resume=not args.no_resume, device=args.device, precision=args.precision,
                   progress=progress(args), seed=args.seed)
    with load_images(args.images, bands=args.bands) as images:
        tbl = place_candidates(tbl, images, args.positions)
        if args.ensemble is not None:
            paths, evaluation = train_ensemble(
                tbl, images=images, output_dir=args.output, cutout_size=args.cutout_size,
                architectures={args.architecture: args.ensemble}, **options)
            print(f'ensemble of {len(paths)} {args.architecture} models in {args.output}')
        else:
            result = train_model(tbl, images=images, architecture=args.architecture,
                                 cutout_size=args.cutout_size, output=args.output,
                                 overwrite=args.overwrite,
                                 checkpoint=f'{args.output}.resume.pt', **options)
            evaluation = result.evaluation
            training = result.model.meta['training']
            n_train = sum(map(int, training['class_counts_train'].values()))
            print(f'trained {args.architecture} on {n_train} objects, '
                  f'{training["n_batches"]} batches in {training["seconds"]:.0f} s '
                  f'({training["images_per_second"]:.0f} images/s)')
            print(f'wrote {result.path} (sha256 {result.sha256})')
    print('held-out test split:')
    print(evaluation)
    if args.ensemble is None:
        print(json.dumps({'accuracy': evaluation.accuracy,
                          'mean_class_accuracy': evaluation.mean_class_accuracy,
                          'cluster_accuracy': evaluation.cluster_accuracy}))

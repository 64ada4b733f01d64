"""
Train a small PHANGS-style ensemble (ResNet18 + VGG19-BN) on CPU and score it.

The paper's ensemble is 10 ResNet18 + 10 VGG19-BN fine-tuned from ImageNet
for 10 000 batches. This script trains a small version from scratch (no
ImageNet weights offline) on the same simulated training fields as the
bundled model (``scripts/train_bundled_model.py``), then scores every
member, the ensemble (mode, through ``classify_table``) and the bundled
model on the held-out field of seed 1000 at 10 Mpc, next to the paper's
human-human agreement. The checkpoints (about 0.6 GB) are not committed.

Usage::

    python scripts/train_small_ensemble.py --out-dir /tmp/ensemble [--n-batches 1000]
"""

import argparse
import time

import astropy.units as u
import torch

from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.training import (HUMAN_AGREEMENT, evaluate, simulated_training_set,
                                         train_ensemble)

TRAIN_FIELDS = [(101, 6), (102, 8), (103, 10), (104, 12), (105, 15), (106, 7), (107, 9),
                (108, 11)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--n-batches', type=int, default=1000)
    parser.add_argument('--members', type=int, default=2, help='models per architecture')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--shape', type=int, default=4000)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = (args.shape, args.shape)
    started = time.perf_counter()
    tset = simulated_training_set(TRAIN_FIELDS, size=32, shape=shape)
    paths, internal = train_ensemble(
        tset, output_dir=args.out_dir, cutout_size=32, seed=0, n_batches=args.n_batches,
        architectures={'resnet18': args.members, 'vgg19_bn': args.members},
        test_fraction=0.1, lr=1e-3, progress=True)
    trained = time.perf_counter() - started
    print(f'trained {len(paths)} models in {trained:.0f} s; ensemble on the internal test split:')
    print(internal)

    field = make_cluster_field(shape, seed=1000, distance=10 * u.Mpc)
    tbl = field.labelled_candidates()
    rows = []
    for name, models in [*((p.split('/')[-1], p) for p in paths),
                         ('ensemble (mode)', paths), ('bundled compactnet', None)]:
        ev, out = evaluate(models, tbl, field.images, precision='fp32', progress=False)
        rows.append((name, ev))
        print(f'\n{name} on the held-out field (seed 1000, 10 Mpc):')
        print(ev)
    print('\nsummary (per-class accuracy; humans: agreement of Whitmore et al. 2021)')
    print(f'{"classifier":<26}' + ''.join(f'{k:>7}' for k in ('1', '2', '3', '4', 'mean', '1+2')))
    for name, ev in rows:
        acc = [float(v) for v in ev.per_class['accuracy'].filled(float('nan'))]
        print(f'{name:<26}' + ''.join(f'{v:7.3f}' for v in acc[:4])
              + f'{ev.mean_class_accuracy:7.3f}{ev.cluster_accuracy:7.3f}')
    print(f'{"humans (paper)":<26}' + ''.join(f'{HUMAN_AGREEMENT[k]:7.2f}'
                                              for k in ('1', '2', '3', '4')) + '      -'
          + f'{HUMAN_AGREEMENT["1+2"]:7.2f}')
    print(f'total {time.perf_counter() - started:.0f} s')


if __name__ == '__main__':
    main()

"""
Training throughput (images/s) of each architecture at the default cutout size.

Runs `astro_clusterclass.training.train_model` itself (the paper's batches:
random objects, rotations, flips, normalisation, forward, backward, AdamW
step) on random stamps, after a few warm-up batches, and prints images/s
for fp32 and bf16 autocast, and the time the paper's 10 000 batches of 32
would take. The loop's own timer (``meta['training']['images_per_second']``)
excludes model building and the final evaluation.

Usage::

    python benchmarks/bench_train.py                      # all architectures
    python benchmarks/bench_train.py --arch compactnet --batches 200

Numbers depend on the machine and on whatever else runs on it (on 2 cores,
a second busy process makes 2-thread torch several times slower: use
``--threads 1`` then, and say so).
"""

import argparse
import time

import numpy as np
import torch

from astro_clusterclass.models import DEFAULT_CUTOUT_SIZE
from astro_clusterclass.training import TrainingSet, train_model

#: Measured batches per architecture (their costs differ 30-fold).
BATCHES = {'compactnet': 150, 'resnet18': 40, 'vgg19_bn': 12}


def measure(arch, size, n_batches, precision, tset):
    train_model(tset, architecture=arch, n_batches=3, progress=False, precision=precision,
                test_fraction=0.05)  # warm-up (allocations, oneDNN kernels)
    result = train_model(tset, architecture=arch, n_batches=n_batches, progress=False,
                         precision=precision, test_fraction=0.05)
    return result.model.meta['training']['images_per_second']


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', nargs='+', default=list(BATCHES))
    parser.add_argument('--size', type=int, default=DEFAULT_CUTOUT_SIZE)
    parser.add_argument('--batches', type=int, default=None,
                        help='batches per measurement (default: per architecture)')
    parser.add_argument('--precision', nargs='+', default=['fp32', 'bf16'])
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    side = args.size | 1
    stamps = rng.normal(size=(800, 5, side, side)).astype(np.float32)
    tset = TrainingSet.from_arrays(stamps, np.repeat([1, 2, 3, 4], 200), size=args.size)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'{args.size} px stamps, batch 32')
    print(f'{"architecture":<12} {"precision":<9} {"images/s":>9} {"10k batches":>12}')
    for arch in args.arch:
        for precision in args.precision:
            n = args.batches or BATCHES.get(arch, 20)
            started = time.perf_counter()
            rate = measure(arch, args.size, n, precision, tset)
            hours = 10_000 * 32 / rate / 3600
            print(f'{arch:<12} {precision:<9} {rate:9.1f} {hours:10.2f} h'
                  f'   ({n} batches, {time.perf_counter() - started:.0f} s with warm-up)',
                  flush=True)


if __name__ == '__main__':
    main()

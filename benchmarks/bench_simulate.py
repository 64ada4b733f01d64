"""
Speed of the field simulator.

Measures, in one run:

1. a full field (default 4000 x 4000 px, 5000 candidates, host galaxy,
   field stars, noise) made with `make_cluster_field`;
2. the small fields the training code uses (512 x 512 px, 200 candidates),
   averaged over a few seeds;
3. a baseline: the same number of point sources rendered one by one with
   `photutils.datasets.make_model_image` and the simulator's PSF as a
   `photutils.psf.ImagePSF` (21 x 21 px per source, one band), timed on a
   subset and scaled; this is how a synthetic image is usually made;
4. optionally (``--check``), that a second run with the same seed gives
   identical arrays.

Usage::

    python benchmarks/bench_simulate.py [--shape 4000 4000] [--n 5000]
        [--baseline-n 1000] [--check]

Prints seconds and the ratio of per-source throughputs. Numbers from a busy
2-core machine are indicative only.
"""

import argparse
import time

import numpy as np
from astropy.table import QTable

from astro_clusterclass.datasets import make_cluster_field, make_psf_model


def baseline(shape, n, seed=0):
    """Seconds to render ``n`` point sources one by one with photutils (one band)."""
    from photutils.datasets import make_model_image

    rng = np.random.default_rng(seed)
    params = QTable({'x_0': rng.uniform(0, shape[1], n), 'y_0': rng.uniform(0, shape[0], n),
                     'flux': rng.uniform(10, 1000, n)})
    model = make_psf_model('F555W')
    start = time.perf_counter()
    make_model_image(shape, model, params, model_shape=(21, 21))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shape', type=int, nargs=2, default=(4000, 4000))
    parser.add_argument('--n', type=int, default=5000, help='candidates in the big field')
    parser.add_argument('--baseline-n', type=int, default=1000,
                        help='point sources rendered by the baseline')
    parser.add_argument('--check', action='store_true', help='check determinism (2nd run)')
    args = parser.parse_args()

    make_cluster_field((128, 128), 5, seed=0)  # warm the PSF caches

    start = time.perf_counter()
    field = make_cluster_field(tuple(args.shape), args.n, seed=0)
    big = time.perf_counter() - start
    n_points = len(field.field_stars) + int(np.sum(field.truth['n_stars']))
    print(f'make_cluster_field {args.shape[1]}x{args.shape[0]} px, {args.n} candidates, '
          f'{len(field.field_stars)} field stars: {big:.2f} s')

    times = []
    for seed in range(5):
        start = time.perf_counter()
        make_cluster_field((512, 512), 200, seed=seed)
        times.append(time.perf_counter() - start)
    print(f'make_cluster_field 512x512 px, 200 candidates: {np.mean(times):.3f} s '
          f'(min {np.min(times):.3f}, max {np.max(times):.3f}, 5 seeds)')

    base = baseline(tuple(args.shape), args.baseline_n)
    per_source = base / args.baseline_n
    print(f'baseline photutils make_model_image, {args.baseline_n} point sources, 1 band: '
          f'{base:.2f} s ({per_source * 1e3:.2f} ms per source per band)')
    scaled = per_source * n_points * 5
    print(f'baseline scaled to the big field\'s {n_points} point sources x 5 bands '
          f'(no extended sources, galaxy or noise): {scaled:.1f} s; '
          f'simulator / baseline time = {big / scaled:.3f}')

    if args.check:
        again = make_cluster_field(tuple(args.shape), args.n, seed=0)
        same = all(np.array_equal(a.data, b.data) for a, b in zip(field.hdus, again.hdus))
        print(f'second run with seed 0 identical: {same}')


if __name__ == '__main__':
    main()

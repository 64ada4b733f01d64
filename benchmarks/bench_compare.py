"""
Benchmark of candidate photometry and of the comparison tools on N candidates.

Everything is measured in the same run, on the same machine:

1. photometry: `candidate_photometry` of N candidates (default 100 000) on a
   synthetic five-band field, with the default apertures (seven radii in
   F555W, the 4-px radius in the other bands, the 7-8 px background annulus
   in all five) and, on a subset scaled per candidate, with every radius in
   every band; against the naive path, one photutils call per candidate
   and band (`aperture_photometry` and `ApertureStats` with a single
   position), timed on ``--naive-n`` candidates and scaled;
2. comparison: `crossmatch` of two N-row catalogues, `agreement_fractions`,
   the four `confusion_matrix` normalisations, `agreement_vs_property` and
   `color_box_counts`; against a plain-Python loop that counts the same
   agreement fractions and confusion matrix.

Usage::

    python benchmarks/bench_compare.py                 # N = 100 000
    python benchmarks/bench_compare.py --n 20000 --naive-n 300

Numbers depend on the machine and on whatever else runs on it.
"""

import argparse
import time
from collections import Counter

import numpy as np
from astropy import units as u
from astropy.table import QTable
from photutils.aperture import (ApertureStats, CircularAnnulus, CircularAperture,
                                aperture_photometry)

from astro_clusterclass.bands import BANDS
from astro_clusterclass.compare import (agreement_fractions, agreement_vs_property,
                                        color_box_counts, confusion_matrix, crossmatch)
from astro_clusterclass.photometry import MCI_RADII, candidate_photometry


def make_field(n, *, density=160.0, seed=0):
    """One synthetic band (Gaussian sources on noise) and n candidate positions."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n * density)))
    image = rng.normal(1.0, 0.05, (side, side)).astype(np.float32)
    x = rng.uniform(10, side - 10, n)
    y = rng.uniform(10, side - 10, n)
    # Sources: add 5x5 Gaussian footprints at the nearest pixel (fast, vectorised).
    ix, iy = np.round(x).astype(int), np.round(y).astype(int)
    off = np.arange(-2, 3)
    dy, dx = np.meshgrid(off, off, indexing='ij')
    amp = rng.lognormal(3.0, 1.0, n).astype(np.float32)
    kernel = np.exp(-(dx ** 2 + dy ** 2) / 2.0).astype(np.float32)
    np.add.at(image, (iy[:, None, None] + dy, ix[:, None, None] + dx),
              amp[:, None, None] * kernel)
    return image, QTable({'id': np.arange(n), 'x': x, 'y': y})


def naive_photometry(image, x, y, radii, annulus):
    """One photutils call per candidate and band: the loop the vectorised path avoids."""
    out = []
    for xi, yi in zip(x, y):
        for _ in BANDS:
            apertures = [CircularAperture((xi, yi), r=r) for r in radii]
            sums = aperture_photometry(image, apertures)
            bkg = ApertureStats(image, CircularAnnulus((xi, yi), *annulus)).median
            out.append((sums, bkg))
    return out


def loop_agreement(a, b):
    """Agreement fractions and counts with dictionaries, one pair at a time."""
    counts = Counter()
    n_a, n_b = Counter(), Counter()
    for i, j in zip(a.tolist(), b.tolist()):
        if 1 <= i <= 4 and 1 <= j <= 4:
            counts[i, j] += 1
            n_a[i] += 1
            n_b[j] += 1
    return {k: 0.5 * (counts[k, k] / n_a[k] + counts[k, k] / n_b[k]) for k in range(1, 5)}


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def bench_photometry(n, naive_n, all_radii_n):
    image, candidates = make_field(n)
    images = dict.fromkeys(BANDS, image)
    print(f'field {image.shape[1]} x {image.shape[0]} px (float32), {n} candidates, '
          f'the same array in all five bands')
    phot, t_fast = timed(candidate_photometry, candidates, images)
    assert len(phot) == n
    print(f'  candidate_photometry, default apertures: {t_fast:8.1f} s  '
          f'{n / t_fast:10.0f} candidates/s')
    sub = candidates[:all_radii_n]
    _, t_all = timed(candidate_photometry, sub, images, radii_bands=BANDS)
    per_all = t_all / len(sub)
    print(f'  every radius in every band ({len(sub)} candidates): {per_all * n:8.1f} s '
          f'for {n}  {1 / per_all:10.0f} candidates/s')
    xs, ys = np.asarray(candidates['x'][:naive_n]), np.asarray(candidates['y'][:naive_n])
    _, t_naive = timed(naive_photometry, image, xs, ys, MCI_RADII, (7.0, 8.0))
    per_naive = t_naive / naive_n
    print(f'  naive, one photutils call per candidate and band ({naive_n} timed): '
          f'{per_naive * n:8.1f} s for {n}  {1 / per_naive:10.0f} candidates/s')
    print(f'  speed-up of the vectorised path over the naive one (same apertures: every '
          f'radius in every band): {per_naive / per_all:.1f}x')
    return phot


def bench_comparison(n):
    rng = np.random.default_rng(1)
    side = np.sqrt(n * 400.0)
    x, y = rng.uniform(0, side, n), rng.uniform(0, side, n)
    v = rng.uniform(19, 25, n)
    a = QTable({'x': x, 'y': y, 'class': rng.integers(0, 5, n),
                'mag_F336W': (v + rng.uniform(-2, 1.5, n)) * u.mag,
                'mag_F438W': v * u.mag, 'mag_F555W': v * u.mag,
                'mag_F814W': (v - rng.uniform(-0.8, 1.7, n)) * u.mag})
    same = rng.uniform(size=n) < 0.7
    b = a.copy()
    b['x'] = x + rng.normal(0, 0.5, n)
    b['y'] = y + rng.normal(0, 0.5, n)
    b['class'] = np.where(same, a['class'], rng.integers(0, 5, n))
    b = b[rng.permutation(n)]
    print(f'\ntwo catalogues of {n} candidates')
    matches, t_match = timed(crossmatch, a, b, radius=2.0)
    print(f'  crossmatch (one-to-one, 2 px): {t_match:8.2f} s  {n / t_match:10.0f} '
          f'candidates/s  ({len(matches)} pairs)')
    start = time.perf_counter()
    f = agreement_fractions(matches, 'class_a', 'class_b')
    for normalize in (None, 'mean', 'a', 'b'):
        confusion_matrix(matches, 'class_a', 'class_b', normalize=normalize)
    agreement_vs_property(matches, 'class_a', 'class_b', 'mag_F555W_a', n_bins=4)
    t_agree = time.perf_counter() - start
    print(f'  agreement fractions + 4 confusion matrices + agreement vs V: '
          f'{t_agree:8.2f} s  {len(matches) / t_agree:10.0f} pairs/s')
    _, t_boxes = timed(color_box_counts, {'A': a, 'B': b}, distance_modulus=30.0)
    print(f'  color_box_counts of both catalogues: {t_boxes:8.2f} s  '
          f'{2 * n / t_boxes:10.0f} candidates/s')
    ca, cb = np.asarray(matches['class_a']), np.asarray(matches['class_b'])
    start = time.perf_counter()
    f_vec = agreement_fractions(matches, 'class_a', 'class_b')
    confusion_matrix(matches, 'class_a', 'class_b', normalize=None)
    t_vec = time.perf_counter() - start
    loop, t_loop = timed(loop_agreement, ca, cb)
    assert np.allclose([loop[k] for k in range(1, 5)], f_vec['fraction'][:4])
    print(f'  agreement + counts, vectorised {t_vec:.3f} s vs plain-Python loop '
          f'{t_loop:.3f} s: {t_loop / t_vec:.1f}x')
    return f


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=100_000, help='candidates')
    parser.add_argument('--naive-n', type=int, default=500,
                        help='candidates timed on the naive photometry path')
    parser.add_argument('--all-radii-n', type=int, default=10_000,
                        help='candidates timed with every radius in every band')
    args = parser.parse_args(argv)
    bench_photometry(args.n, args.naive_n, min(args.all_radii_n, args.n))
    bench_comparison(args.n)


if __name__ == '__main__':
    main()

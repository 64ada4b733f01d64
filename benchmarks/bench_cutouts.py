"""
Cutout throughput from memory-mapped mosaics.

Writes five 8k x 8k float32 FITS mosaics, then measures, in one run:

1. vectorised stamps (``iter_cutouts``, chunked, memory-mapped input) for
   50,000 candidates x 5 bands x 64 px;
2. writing one multi-extension FITS file per candidate for the same
   candidates (``write_cutout_fits``), the PHANGS tutorial's format;
3. a per-candidate Python loop with ``astropy.nddata.Cutout2D`` on a subset,
   the usual research-script baseline.

Usage::

    python benchmarks/bench_cutouts.py [--n 50000] [--size 64] [--n-mef 50000]
        [--workdir DIR] [--keep]

Prints candidates/s for each path and the ratios.
"""

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from astro_clusterclass import BANDS, iter_cutouts, load_images, make_cutouts, write_cutout_fits


def make_mosaics(workdir, shape, seed=0):
    """Five FITS mosaics with a WCS and FILTER keywords; returns their paths."""
    rng = np.random.default_rng(seed)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [64.98, -54.94]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.04 / 3600, 0.04 / 3600]
    paths = []
    for band in BANDS:
        path = os.path.join(workdir, f'mosaic_{band.lower()}.fits')
        header = fits.PrimaryHDU(np.zeros(shape, dtype=np.float32)[:0]).header
        header['NAXIS'], header['NAXIS1'], header['NAXIS2'] = 2, shape[1], shape[0]
        header.update(wcs.to_header())
        header['FILTER'] = band
        # StreamingHDU writes row blocks, so an 8k x 8k image is never held whole.
        stream = fits.StreamingHDU(path, header)
        for start in range(0, shape[0], 1024):
            rows = min(1024, shape[0] - start)
            stream.write(rng.normal(0.0, 1.0, (rows, shape[1])).astype('>f4'))
        stream.close()
        paths.append(path)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=50_000, help='number of candidates')
    parser.add_argument('--size', type=int, default=64, help='stamp size (px)')
    parser.add_argument('--shape', type=int, default=8192, help='mosaic side (px)')
    parser.add_argument('--n-mef', type=int, default=None,
                        help='candidates written as MEF files (default: all)')
    parser.add_argument('--n-loop', type=int, default=2000,
                        help='candidates for the Cutout2D loop baseline')
    parser.add_argument('--chunk', type=int, default=4096)
    parser.add_argument('--workdir', default=None)
    parser.add_argument('--keep', action='store_true', help='keep the mosaics and files')
    args = parser.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix='bench_cutouts_')
    os.makedirs(workdir, exist_ok=True)
    shape = (args.shape, args.shape)
    print(f'mosaics: 5 x {shape[1]} x {shape[0]} float32 in {workdir}')
    t0 = time.perf_counter()
    paths = make_mosaics(workdir, shape)
    print(f'  written in {time.perf_counter() - t0:.1f} s')

    rng = np.random.default_rng(1)
    x = rng.uniform(-20, shape[1] + 20, args.n)
    y = rng.uniform(-20, shape[0] + 20, args.n)

    with load_images(paths) as images:
        # 1. Vectorised, chunked, memory-mapped.
        t0 = time.perf_counter()
        n_done = flagged = 0
        checksum = 0.0
        for _, chunk in iter_cutouts(images, (x, y), size=args.size, chunk_size=args.chunk):
            n_done += len(chunk)
            flagged += int(np.count_nonzero(chunk.flags))
            checksum += float(chunk.data[:, :, args.size // 2, args.size // 2].sum())
        t_vec = time.perf_counter() - t0
        rate_vec = n_done / t_vec
        print(f'vectorised iter_cutouts: {n_done} candidates x 5 bands x {args.size} px '
              f'in {t_vec:.2f} s = {rate_vec:,.0f} candidates/s ({flagged} flagged at edges)')

        # 2. One MEF file per candidate, same candidates (stamps cut per chunk).
        n_mef = args.n if args.n_mef is None else min(args.n_mef, args.n)
        mefdir = os.path.join(workdir, 'mef')
        t0 = time.perf_counter()
        written = 0
        for start in range(0, n_mef, args.chunk):
            stop = min(start + args.chunk, n_mef)
            stamps = make_cutouts(images, (x[start:stop], y[start:stop]), size=args.size)
            stamps.ids = np.arange(start, stop)
            written += len(write_cutout_fits(stamps, mefdir, overwrite=True))
        t_mef = time.perf_counter() - t0
        rate_mef = written / t_mef
        print(f'cut + write one MEF file per candidate: {written} files in {t_mef:.1f} s '
              f'= {rate_mef:,.0f} candidates/s')

        # 3. Per-candidate Cutout2D loop (subset).
        n_loop = min(args.n_loop, args.n)
        t0 = time.perf_counter()
        for i in range(n_loop):
            for band in range(5):
                Cutout2D(images.data[band], (x[i], y[i]), args.size, mode='partial',
                         fill_value=0.0, copy=True)
        t_loop = time.perf_counter() - t0
        rate_loop = n_loop / t_loop
        print(f'per-candidate Cutout2D loop: {n_loop} candidates in {t_loop:.2f} s '
              f'= {rate_loop:,.0f} candidates/s')

    print(f'speed-up of vectorised stamps over MEF files: {rate_vec / rate_mef:.1f}x')
    print(f'speed-up of vectorised stamps over the Cutout2D loop: {rate_vec / rate_loop:.1f}x')
    print(f'(checksum {checksum:.3f})')
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()

"""
Peak memory of ``clusterclass cutouts`` at 299 px for two catalogue sizes.

Writes five noise images and two catalogues of random positions, runs
``clusterclass cutouts --npz`` on each in a child process and prints its
peak resident memory (``wait4`` rusage). Streaming in chunks keeps the
peak independent of the number of candidates (target: at most 1 GB).

    nice -n 10 python benchmarks/bench_cutouts_memory.py --sizes 300 1200
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=int, nargs=2, default=(300, 1200))
    parser.add_argument('--shape', type=int, default=2000, help='image side in pixels')
    parser.add_argument('--size', type=int, default=299, help='stamp side')
    args = parser.parse_args()
    import numpy as np
    from astropy.io import fits
    from astropy.table import QTable

    work = tempfile.mkdtemp()
    rng = np.random.default_rng(0)
    images = []
    for band in BANDS:
        path = os.path.join(work, f'{band.lower()}.fits')
        hdu = fits.PrimaryHDU(rng.normal(size=(args.shape, args.shape)).astype(np.float32))
        hdu.header['FILTER'] = band
        hdu.writeto(path)
        images.append(path)
    image_mb = 5 * args.shape ** 2 * 4 / 2 ** 20
    print(f'images: 5 x {args.shape}^2 float32 ({image_mb:.0f} MiB); stamps {args.size} px')
    for n in args.sizes:
        catalog = os.path.join(work, f'cat{n}.ecsv')
        QTable({'id': np.arange(n), 'x': rng.uniform(0, args.shape, n),
                'y': rng.uniform(0, args.shape, n)}).write(catalog)
        out = os.path.join(work, f'out{n}')
        cmd = [sys.executable, '-m', 'astro_clusterclass', 'cutouts', catalog, *images,
               '--bands', *BANDS, '-o', out, '--size', str(args.size), '--npz', '-q']
        start = time.perf_counter()
        proc = subprocess.Popen(cmd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if status:
            raise SystemExit(f'cutouts failed for {n} candidates')
        all_mb = n * 5 * args.size ** 2 * 4 / 2 ** 20
        print(f'{n:6d} candidates: peak RSS {usage.ru_maxrss / 1024:.0f} MiB '
              f'(all stamps at once would be {all_mb:.0f} MiB) in {seconds:.1f} s')
        shutil.rmtree(out)
    shutil.rmtree(work)


if __name__ == '__main__':
    main()

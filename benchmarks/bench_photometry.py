"""
Speed of `candidate_photometry` with errors against the same call without them.

The field is that of ``bench_compare.py`` (Gaussian sources on noise, one
float32 array in all five bands, with EXPTIME so the Poisson term is
computed). Both paths run in the same process, alternately, and the ratio
of their candidates per second is printed; the target is >= 0.8.

Run: ``nice -n 10 python benchmarks/bench_photometry.py --n 20000``
"""

import argparse
import time

from astropy.io import fits

from astro_clusterclass.bands import BANDS
from astro_clusterclass.photometry import candidate_photometry

from bench_compare import make_field


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--n', type=int, default=20000, help='candidates')
    parser.add_argument('--repeat', type=int, default=3, help='timed runs of each path')
    args = parser.parse_args(argv)
    image, candidates = make_field(args.n)
    hdus = []
    for band in BANDS:
        hdu = fits.ImageHDU(image)
        hdu.header.update(FILTER=band, EXPTIME=1000.0, BUNIT='ELECTRONS/S')
        hdus.append(hdu)
    print(f'field {image.shape[1]} x {image.shape[0]} px, {args.n} candidates, '
          f'default apertures (F555W at 7 radii, others at 4 px)')
    best = {}
    for _ in range(args.repeat):
        for errors in (False, True):
            start = time.perf_counter()
            phot = candidate_photometry(candidates, hdus, errors=errors)
            elapsed = time.perf_counter() - start
            best[errors] = min(best.get(errors, elapsed), elapsed)
            assert len(phot) == args.n
    for errors in (False, True):
        label = 'with errors   ' if errors else 'without errors'
        print(f'  {label}: {best[errors]:7.2f} s  {args.n / best[errors]:9.0f} candidates/s')
    print(f'  ratio (with / without, candidates/s): {best[False] / best[True]:.2f} '
          f'(target >= 0.80)')


if __name__ == '__main__':
    main()

"""
Fixtures and helpers shared by the whole test suite.

The tests live beside the code (``astro_clusterclass/<subpackage>/tests``)
and are installed with it, so ``pytest --pyargs astro_clusterclass`` runs
them; the tests under the checkout's top-level ``tests/`` import the same
fixtures through ``tests/conftest.py``.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astro_clusterclass.bands import BANDS

__all__ = ['SHARED_DATA', 'shared_data_path', 'legus_file', 'simple_wcs', 'gaussian_field',
           'shared_data', 'small_field', 'small_field_files']

#: The real data shared with the project (LEGUS catalogues, BC03 tracks,
#: zeropoints): the folder named by ``$ASTRO_CLUSTERCLASS_SHARED_DATA``, else
#: ``shared/data`` beside the source checkout (``../shared/data`` seen from
#: the checkout's root). Tests that need it skip when it is absent.
SHARED_DATA = Path(os.environ.get('ASTRO_CLUSTERCLASS_SHARED_DATA',
                                  Path(__file__).resolve().parents[2] / 'shared' / 'data'))


def shared_data_path(*parts):
    """Path inside the shared data folder, or skip the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'shared data not available: {path} is missing '
                    f'(set ASTRO_CLUSTERCLASS_SHARED_DATA to its folder)')
    return path


def legus_file(name):
    """Path of the LEGUS catalogue whose file name contains ``_{name}_``."""
    folder = shared_data_path('legus_tab')
    matches = sorted(folder.glob(f'hlsp_legus_*_{name}_multiband*.tab'))
    if len(matches) != 1:
        pytest.skip(f'LEGUS catalogue for {name!r} not found in {folder}')
    return matches[0]


@pytest.fixture
def shared_data():
    """The shared data folder (skips when absent)."""
    return shared_data_path()


def simple_wcs(shape, *, scale_arcsec=0.04, crval=(150.0, 2.0)):
    """A TAN WCS with the WFC3/UVIS drizzled pixel scale, centred on the image."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return wcs


def gaussian_field(shape=(200, 240), positions=((60.0, 50.0), (150.3, 120.7)),
                   *, sigma=1.5, seed=0):
    """
    Five small noisy bands with Gaussian sources, as FITS HDUs.

    A minimal, fully known scene for tests of image handling; the
    simulator in `astro_clusterclass.datasets` makes realistic ones.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    wcs = simple_wcs(shape)
    hdus = []
    for i, band in enumerate(BANDS):
        data = rng.normal(0.0, 0.01, size=shape)
        for x, y in positions:
            data += (1.0 + i) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
        hdu = fits.ImageHDU(data.astype(np.float32), header=wcs.to_header(), name='SCI')
        hdu.header['FILTER'] = band
        hdu.header['PHOTFLAM'] = 1e-19
        hdu.header['PHOTPLAM'] = 5000.0
        hdu.header['EXPTIME'] = 1000.0
        hdu.header['BUNIT'] = 'ELECTRONS/S'
        hdus.append(hdu)
    return hdus


@pytest.fixture
def small_field():
    """Five in-memory HDUs (200 x 240 px) with two Gaussian sources."""
    return gaussian_field()


@pytest.fixture
def small_field_files(tmp_path):
    """The `small_field` written as five FITS files; returns their paths."""
    paths = []
    for hdu in gaussian_field():
        path = tmp_path / f'field_{hdu.header["FILTER"].lower()}.fits'
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
        paths.append(str(path))
    return paths

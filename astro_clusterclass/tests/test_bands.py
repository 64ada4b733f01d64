"""The five bands: identification from FITS headers and names."""

import pytest
from astropy.io import fits

from astro_clusterclass.bands import band_from_header, normalize_band


def test_band_identification_keywords():
    assert band_from_header(fits.Header({'FILTER1': 'F555W', 'FILTER2': 'CLEAR2L'})) == 'F555W'
    assert band_from_header(fits.Header({'PHOTMODE': 'ACS WFC1 F814W MJD#5'})) == 'F814W'
    assert band_from_header(fits.Header({'FILTER': 'F110W'})) is None
    with pytest.raises(ValueError, match="band='F110W' is not a known band"):
        normalize_band('F110W')

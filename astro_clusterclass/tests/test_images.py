"""Five-band image input: every accepted form, and every refusal."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import NDData

from astro_clusterclass import BANDS, load_images
from astro_clusterclass.conftest import gaussian_field, simple_wcs


def _memory_mapped(array):
    import mmap
    base = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, 'base', None)
    return False


def test_files_are_memory_mapped_and_bands_from_headers(small_field_files):
    # Give the files out of order: bands come from the FILTER keywords.
    shuffled = small_field_files[::-1]
    with load_images(shuffled) as images:
        assert images.bands == BANDS
        for band, array in zip(BANDS, images.data):
            assert _memory_mapped(array)
            expected = fits.getdata([p for p in small_field_files
                                     if band.lower() in p][0])
            np.testing.assert_array_equal(array, expected)
        assert images.wcs is not None
        assert images.meta['F555W']['PHOTFLAM'] == 1e-19


def test_hdus_nddata_tuples_arrays_and_mappings_agree(small_field):
    reference = load_images(small_field)
    wcs = simple_wcs(small_field[0].data.shape)
    forms = [
        [fits.HDUList([fits.PrimaryHDU(), h]) for h in small_field],
        [NDData(h.data, wcs=wcs, meta={'header': h.header}) for h in small_field],
        {b: (h.data, wcs) for b, h in zip(BANDS, small_field)},
        {b: (h.data, h.header) for b, h in zip(BANDS, small_field)},
        {b: h.data for b, h in zip(BANDS, small_field)},
    ]
    for form in forms:
        images = load_images(form)
        for a, b in zip(images.data, reference.data):
            # Same object: nothing was copied.
            assert np.shares_memory(a, b)
    assert load_images(reference) is reference


def test_sequence_with_bands_argument(small_field):
    arrays = [h.data for h in small_field]
    images = load_images(arrays, bands=['NUV', 'U', 'B', 'V', 'I'])
    assert images['F814W'] is arrays[4]


def test_acs_filters_fill_their_slots():
    hdus = gaussian_field(shape=(40, 40))
    hdus[2].header['FILTER'] = 'F435W'
    hdus[3].header['FILTER'] = 'F606W'
    images = load_images(hdus)
    assert images.filters['F438W'] == 'F435W'
    assert images.filters['F555W'] == 'F606W'


def test_wrong_number_of_bands(small_field):
    with pytest.raises(ValueError, match='exactly 5 bands.*got 4'):
        load_images(small_field[:4])


def test_duplicate_band(small_field):
    hdus = list(small_field)
    hdus[1] = hdus[0]
    with pytest.raises(ValueError, match='band F275W is given twice'):
        load_images(hdus)


def test_missing_band_in_mapping(small_field):
    mapping = {b: h.data for b, h in zip(BANDS, small_field)}
    del mapping['F275W']
    with pytest.raises(ValueError, match='exactly 5 bands.*got 4'):
        load_images(mapping)
    mapping['U'] = small_field[0].data  # a second U band, still no NUV
    with pytest.raises(ValueError, match='band F336W is given twice'):
        load_images(mapping)


def test_header_contradicts_given_band(small_field):
    match = r'band F336W: the header says this image is F275W \(band F275W\)'
    with pytest.raises(ValueError, match=match):
        load_images(small_field, bands=['F336W', 'F275W', 'F438W', 'F555W', 'F814W'])


def test_unidentifiable_band():
    arrays = [np.zeros((10, 10))] * 5
    with pytest.raises(ValueError, match='image 0: no FILTER.*pass bands='):
        load_images(arrays)


def test_mismatched_shapes(small_field):
    hdus = list(small_field)
    hdus[3] = fits.ImageHDU(hdus[3].data[:-1], header=hdus[3].header)
    with pytest.raises(ValueError, match=r'band F555W: shape \(199, 240\) differs'):
        load_images(hdus)


def test_mismatched_wcs(small_field):
    hdus = [fits.ImageHDU(h.data, header=h.header.copy()) for h in small_field]
    hdus[4].header['CRPIX1'] += 0.5
    with pytest.raises(ValueError, match='band F814W: WCS differs from band F275W by up to 0.5 px'):
        load_images(hdus)


def test_unsupported_type():
    with pytest.raises(TypeError, match='expected a FITS file name, an HDU'):
        load_images({b: 'abc' if False else 3.0 for b in BANDS})
    with pytest.raises(TypeError, match='sequence of five images or a mapping'):
        load_images('one_file.fits')


def test_missing_file_and_non_fits(tmp_path, small_field_files):
    files = list(small_field_files)
    files[0] = str(tmp_path / 'absent.fits')
    with pytest.raises(FileNotFoundError, match='absent.fits'):
        load_images(files)
    bogus = tmp_path / 'bogus.fits'
    bogus.write_text('not fits at all' * 100)
    files[0] = str(bogus)
    with pytest.raises(ValueError, match='image 0: .*not a readable FITS file'):
        load_images(files)


def test_non_numeric_and_non_2d(small_field):
    mapping = {b: h.data for b, h in zip(BANDS, small_field)}
    mapping['F438W'] = np.zeros((10, 10), dtype='U2')
    with pytest.raises(TypeError, match='band F438W: pixel values must be numbers'):
        load_images(mapping)
    mapping['F438W'] = np.zeros((3, 200, 240))
    with pytest.raises(ValueError, match='band F438W: image must be 2-D'):
        load_images(mapping)

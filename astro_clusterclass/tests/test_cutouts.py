"""Cutouts: vectorised extraction against a per-candidate reference."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from astro_clusterclass import (BANDS, CutoutFlag, iter_cutouts, load_images,
                                make_cutouts, read_cutout_fits, write_cutout_fits)
from astro_clusterclass.conftest import gaussian_field


def _reference_stamp(image, x, y, size, fill):
    """Independent stamp: pad the whole image, then slice (one candidate)."""
    pad = size + 20
    padded = np.pad(image.astype(np.float64), pad, constant_values=fill)
    ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    y0, x0 = iy - size // 2 + pad, ix - size // 2 + pad
    return padded[y0:y0 + size, x0:x0 + size]


@pytest.fixture
def field():
    return load_images(gaussian_field(shape=(60, 80), seed=3))


@pytest.mark.parametrize('size', [1, 7, 16])
def test_matches_reference_everywhere(field, size):
    rng = np.random.default_rng(1)
    # Interior, edges, corners and well outside, plus exact half pixels.
    x = np.concatenate([rng.uniform(-10, 90, 200), [0.5, 79.5, -0.5, 39.5]])
    y = np.concatenate([rng.uniform(-10, 70, 200), [0.5, 59.5, 30.0, -0.5]])
    stamps = make_cutouts(field, (x, y), size=size, fill_value=-7.0)
    assert stamps.data.shape == (len(x), 5, size, size)
    assert stamps.data.dtype == np.float32
    for i in range(len(x)):
        for b in range(5):
            expected = _reference_stamp(field.data[b], x[i], y[i], size, -7.0)
            np.testing.assert_array_equal(stamps.data[i, b], expected.astype(np.float32))
    ix, iy = np.floor(x + 0.5), np.floor(y + 0.5)
    off = (ix < 0) | (iy < 0) | (ix >= 80) | (iy >= 60)
    edge = ((ix - size // 2 < 0) | (iy - size // 2 < 0)
            | (ix - size // 2 + size > 80) | (iy - size // 2 + size > 60))
    np.testing.assert_array_equal(stamps.flags & CutoutFlag.OFF_IMAGE > 0, off)
    np.testing.assert_array_equal(stamps.flags & CutoutFlag.EDGE > 0, edge)


def test_center_pixel_convention(field):
    stamps = make_cutouts(field, ([10.49, 10.5], [20.0, 20.0]), size=8)
    assert stamps.data[0, 0, 4, 4] == field.data[0][20, 10]
    assert stamps.data[1, 0, 4, 4] == field.data[0][20, 11]  # halves round up
    assert stamps.x0.tolist() == [6, 7]


def test_table_skycoord_and_pixel_positions_agree(field):
    x = np.array([12.3, 40.0, 70.1])
    y = np.array([8.0, 30.4, 55.5])
    by_pixel = make_cutouts(field, QTable({'x': x, 'y': y}), size=9)
    coords = field.wcs.pixel_to_world(x, y)
    by_sky = make_cutouts(field, coords, size=9)
    by_table = make_cutouts(field, QTable({'id': [5, 6, 7], 'coord': coords}), size=9)
    np.testing.assert_array_equal(by_pixel.data, by_sky.data)
    np.testing.assert_array_equal(by_pixel.data, by_table.data)
    assert by_table.ids.tolist() == [5, 6, 7]


def test_nonfinite_pixels_flagged_and_replaced():
    hdus = gaussian_field(shape=(50, 50))
    hdus[2].data[25, 25] = np.nan
    hdus[4].data[10, 40] = np.inf
    stamps = make_cutouts(hdus, ([25.0, 2.0, 40.0], [25.0, 2.0, 12.0]), size=7)
    assert [CutoutFlag.describe(f) for f in stamps.flags] == ['NONFINITE', 'EDGE', 'NONFINITE']
    assert np.all(np.isfinite(stamps.data))
    raw = make_cutouts(hdus, ([25.0], [25.0]), size=7, replace_nonfinite=False)
    assert np.isnan(raw.data[0, 2, 3, 3])


def test_missing_band_flagged():
    hdus = gaussian_field(shape=(50, 50))
    hdus[0].data[:, 25:] = 0.0  # outside the F275W footprint on the right
    stamps = make_cutouts(hdus, ([10.0, 40.0], [25.0, 25.0]), size=7)
    assert [CutoutFlag.describe(f) for f in stamps.flags] == ['NONE', 'MISSING_BAND']


def test_nan_position_is_kept_and_flagged(field):
    stamps = make_cutouts(field, ([np.nan, 10.0], [5.0, 10.0]), size=5)
    assert len(stamps) == 2
    assert stamps.flags[0] & CutoutFlag.OFF_IMAGE
    assert np.all(stamps.data[0] == 0.0)


def test_chunks_equal_whole(field):
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-5, 85, 50), rng.uniform(-5, 65, 50)
    whole = make_cutouts(field, (x, y), size=6)
    starts, parts, flags = [], [], []
    for start, chunk in iter_cutouts(field, (x, y), size=6, chunk_size=16):
        starts.append(start)
        parts.append(chunk.data)
        flags.append(chunk.flags)
    assert starts == [0, 16, 32, 48]
    np.testing.assert_array_equal(np.concatenate(parts), whole.data)
    np.testing.assert_array_equal(np.concatenate(flags), whole.flags)


def test_empty_table_gives_empty_array(field):
    stamps = make_cutouts(field, QTable({'x': np.zeros(0), 'y': np.zeros(0)}), size=5)
    assert stamps.data.shape == (0, 5, 5, 5)


def _no_wcs(field):
    return load_images({b: a for b, a in zip(BANDS, field.data)})


@pytest.mark.parametrize('call, error, match', [
    (lambda f: make_cutouts(f, ([1.0], [1.0]), size=0), ValueError,
     'size must be an integer >= 1'),
    (lambda f: make_cutouts(f, ([1.0], [1.0]), size=6.5), ValueError,
     'size must be an integer >= 1'),
    (lambda f: make_cutouts(f, QTable({'a': [1.0]})), ValueError,
     'table has no position columns'),
    (lambda f: make_cutouts(f, 'abc'), TypeError, 'positions must be a Table, a SkyCoord'),
    (lambda f: make_cutouts(f, ([1.0, 2.0], [1.0])), ValueError,
     'x and y must be 1-D of equal length'),
    (lambda f: next(iter_cutouts(f, ([1.0], [1.0]), chunk_size=0)), ValueError,
     'chunk_size must be a positive integer'),
    (lambda f: make_cutouts(_no_wcs(f), f.wcs.pixel_to_world([1.0], [1.0])), ValueError,
     'sky coordinates but the images have no WCS'),
    (lambda f: make_cutouts(_no_wcs(f), QTable({'coord': f.wcs.pixel_to_world([1.0], [1.0])})),
     ValueError, 'pass wcs='),
])
def test_bad_inputs(field, call, error, match):
    with pytest.raises(error, match=match):
        call(field)


def test_mef_round_trip(field, tmp_path):
    x, y = np.array([5.0, 40.2, 79.0]), np.array([5.0, 30.0, 59.0])
    stamps = make_cutouts(field, QTable({'id': [11, 12, 13], 'x': x, 'y': y}), size=9)
    paths = write_cutout_fits(stamps, tmp_path)
    names = [p.rsplit('/', 1)[-1] for p in paths]
    assert names == ['cutout_11.fits', 'cutout_12.fits', 'cutout_13.fits']
    with fits.open(paths[1]) as hdul:
        assert len(hdul) == 6
        assert [h.name for h in hdul[1:]] == list(BANDS)
        assert hdul[0].header['OBJ_ID'] == '12'
        assert hdul[0].header['X'] == pytest.approx(40.2)
        assert hdul['F555W'].header['FILTER'] == 'F555W'
        # The stamp WCS puts the candidate's sky position at its centre pixel.
        from astropy.wcs import WCS
        sky = field.wcs.pixel_to_world(40, 30)
        px, py = WCS(hdul['F555W'].header).world_to_pixel(sky)
        assert (px, py) == pytest.approx((4, 4), abs=1e-6)
    back = read_cutout_fits(paths)
    np.testing.assert_array_equal(back.data, stamps.data)
    np.testing.assert_array_equal(back.flags, stamps.flags)
    np.testing.assert_array_equal(back.x0, stamps.x0)
    assert back.ids.tolist() == ['11', '12', '13']
    assert back.wcs is not None


def test_mef_read_other_band_order_and_errors(field, tmp_path):
    stamps = make_cutouts(field, ([20.0], [20.0]), size=5)
    path = write_cutout_fits(stamps, tmp_path)[0]
    with fits.open(path) as hdul:
        reordered = fits.HDUList([hdul[0]] + list(hdul[1:])[::-1])
        reordered.writeto(tmp_path / 'reordered.fits')
        fits.HDUList(list(hdul[:5])).writeto(tmp_path / 'four.fits')
    back = read_cutout_fits([tmp_path / 'reordered.fits'])
    np.testing.assert_array_equal(back.data, stamps.data)
    with pytest.raises(ValueError, match='four.fits: band F814W is missing'):
        read_cutout_fits([tmp_path / 'four.fits'])
    with pytest.raises(ValueError, match='paths is empty'):
        read_cutout_fits([])
    with pytest.raises(FileExistsError, match='exists; pass overwrite=True'):
        write_cutout_fits(stamps, tmp_path)  # exists and overwrite=False

"""Table helpers: positions (names, units, origins, checks) and the errors that name the column."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable, Table
from astropy.utils.exceptions import AstropyUserWarning

from astro_clusterclass.conftest import simple_wcs
from astro_clusterclass.tables import (POSITION_TOLERANCE, PositionMismatchError, check_on_image,
                                       pixel_positions, sky_columns, sky_coordinates,
                                       standardize_positions)


def test_pixel_positions_names_the_missing_column():
    with pytest.raises(ValueError, match=r"columns: 'ypix' is not a column; the columns are "
                                         r"\['xpix', 'y'\]"):
        pixel_positions(QTable({'xpix': [1.0], 'y': [2.0]}), columns=('xpix', 'ypix'))


@pytest.fixture
def field():
    """Positions on a 500 x 500 px grid with a TAN WCS, and their sky coordinates."""
    wcs = simple_wcs((500, 500))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 499, 80), rng.uniform(0, 499, 80)
    return wcs, x, y, wcs.pixel_to_world(x, y)


@pytest.mark.parametrize('ra, dec', [('ra', 'dec'), ('RA', 'DEC'), ('RA', 'Dec'),
                                     ('RAJ2000', 'DEJ2000'), ('ALPHA_J2000', 'DELTA_J2000'),
                                     ('PHANGS_RA', 'PHANGS_DEC'), ('RA_ICRS', 'DE_ICRS')])
def test_float_sky_columns_are_positions(field, ra, dec):
    wcs, x, y, coords = field
    tbl = Table({'id': np.arange(len(x)), ra: coords.ra.deg, dec: coords.dec.deg})
    assert sky_columns(tbl) == (ra, dec)
    px, py = pixel_positions(tbl, wcs=wcs)
    np.testing.assert_allclose(px, x, atol=1e-6)
    np.testing.assert_allclose(py, y, atol=1e-6)
    std = standardize_positions(tbl)
    assert std.colnames == ['id', 'coord'] and isinstance(std['coord'], SkyCoord)
    assert std.meta['positions']['original_names'] == {'coord': f'{ra}, {dec}'}
    assert tbl.colnames == ['id', ra, dec]  # the input is not modified


def test_sky_columns_with_units(field):
    wcs, x, y, coords = field
    hours = QTable({'RA': coords.ra.to(u.hourangle), 'DEC': coords.dec.to(u.arcmin)})
    np.testing.assert_allclose(sky_coordinates(hours).ra.deg, coords.ra.deg)
    with pytest.raises(u.UnitTypeError, match="column 'RA' has unit mag, not an angle"):
        sky_coordinates(QTable({'RA': [1.0] * u.mag, 'DEC': [2.0] * u.deg}))
    with pytest.raises(ValueError, match=r"columns 'ra'/'dec' do not hold sky positions in "
                                         r"degrees \(RA 10..20, Dec 100..100\)"):
        sky_coordinates(QTable({'ra': [10.0, 20.0], 'dec': [100.0, 100.0]}))
    with pytest.raises(ValueError, match=r"columns \['RA', 'ra'\] differ only by case"):
        sky_columns(QTable({'RA': [1.0], 'ra': [1.0], 'dec': [2.0]}))


def test_pixel_columns_in_degrees_are_refused(field):
    _, _, _, coords = field
    tbl = QTable({'x': coords.ra, 'y': coords.dec})
    with pytest.raises(u.UnitTypeError, match=r"column 'x' holds angles \(deg\), not pixel"):
        pixel_positions(tbl)
    with pytest.raises(u.UnitTypeError, match="column 'x' holds angles"):
        standardize_positions(tbl)
    plain = Table({'x': [1.0], 'y': [2.0]})
    plain['x'].unit = u.deg  # a Table column with a unit, not a Quantity
    with pytest.raises(u.UnitTypeError, match="column 'x' holds angles"):
        pixel_positions(plain)
    with pytest.raises(u.UnitTypeError, match="column 'y' has unit mm"):
        pixel_positions(QTable({'x': [1.0] * u.pix, 'y': [2.0] * u.mm}))
    assert pixel_positions(QTable({'x': [1.0] * u.pix, 'y': [2.0] * u.pix}))[0].tolist() == [1]


def test_pixels_checked_against_the_sky_through_the_wcs(field):
    wcs, x, y, coords = field
    good = QTable({'x': x, 'y': y, 'coord': coords})
    px, _ = pixel_positions(good, wcs=wcs)
    np.testing.assert_array_equal(px, x)
    # A small scatter (rounded sky positions) passes; another mosaic does not.
    rng = np.random.default_rng(1)
    noisy = QTable({'x': x + rng.normal(0, 0.4, len(x)), 'y': y, 'coord': coords})
    pixel_positions(noisy, wcs=wcs)
    shifted = QTable({'x': x + 400, 'y': y, 'coord': coords})
    with pytest.raises(PositionMismatchError,
                       match=r'pixel columns x/y and sky column coord disagree .* for 80 of 80 '
                             r'rows \(100 %\).*dx=\+400\.0, dy=\+0\.0 px.*another mosaic.*'
                             r"use='sky'.*use='pixel'"):
        pixel_positions(shifted, wcs=wcs)
    # Chosen explicitly, either is used without the check.
    np.testing.assert_allclose(pixel_positions(shifted, wcs=wcs, use='sky')[0], x, atol=1e-6)
    np.testing.assert_array_equal(pixel_positions(shifted, wcs=wcs, use='pixel')[0], x + 400)
    np.testing.assert_array_equal(pixel_positions(shifted, wcs=wcs, columns=('x', 'y'))[0],
                                  x + 400)
    # Without a WCS there is nothing to check against.
    np.testing.assert_array_equal(pixel_positions(shifted)[0], x + 400)
    # Float RA/Dec are checked as a SkyCoord is.
    floats = QTable({'x': x + 400, 'y': y, 'RA': coords.ra.deg, 'DEC': coords.dec.deg})
    with pytest.raises(PositionMismatchError, match='sky column RA/DEC'):
        pixel_positions(floats, wcs=wcs)
    assert POSITION_TOLERANCE == 1.5


def test_one_based_pixels_are_told_apart(field):
    wcs, x, y, coords = field
    ds9 = QTable({'x': x + 1, 'y': y + 1, 'coord': coords})
    with pytest.raises(PositionMismatchError, match=r'offset by \(dx=\+1\.00, dy=\+1\.00\) px.*'
                                                    r'look 1-based.*pixel_origin=1'):
        pixel_positions(ds9, wcs=wcs)
    px, py = pixel_positions(ds9, wcs=wcs, pixel_origin=1)
    np.testing.assert_allclose(px, x)
    with pytest.raises(PositionMismatchError, match=r'look 0-based.*pixel_origin=0'):
        pixel_positions(QTable({'x': x, 'y': y, 'coord': coords}), wcs=wcs, pixel_origin=1)
    with pytest.raises(ValueError, match=r'pixel_origin=2 is not a pixel origin'):
        pixel_positions(ds9, pixel_origin=2)


def test_standardize_named_and_one_based_columns():
    tbl = QTable({'NUMBER': [1, 2, 3], 'X_IMAGE': [1.0, 10.5, 100.0], 'Y_IMAGE': [1.0, 2.0, 3.0],
                  'MAG': [20.0, 21.0, 22.0]}, meta={'origin': 'SExtractor'})
    std = standardize_positions(tbl)  # SExtractor's pair is 1-based
    assert std.colnames == ['NUMBER', 'x', 'y', 'MAG']
    assert std['x'].tolist() == [0.0, 9.5, 99.0] and std['y'].tolist() == [0.0, 1.0, 2.0]
    assert std.meta['origin'] == 'SExtractor'  # the input's meta is kept
    assert std.meta['positions']['original_names'] == {'x': 'X_IMAGE', 'y': 'Y_IMAGE'}
    assert 'positions' not in tbl.meta
    np.testing.assert_array_equal(pixel_positions(tbl)[0], std['x'])  # the same when used
    named = standardize_positions(QTable({'xc': [5.0], 'yc': [6.0]}), x_column='xc',
                                  y_column='yc')
    assert named.colnames == ['x', 'y'] and named['x'].tolist() == [5.0]
    # Recognised 0-based pairs are left alone.
    same = QTable({'xcentroid': [1.0], 'ycentroid': [2.0]})
    assert standardize_positions(same).colnames == ['xcentroid', 'ycentroid']


@pytest.mark.parametrize('tbl, kwargs, match', [
    (QTable({'X': [1.0], 'Y': [2.0]}), {'x_column': 'X'}, "x_column='X' needs y_column='NAME'"),
    (QTable({'X': [1.0], 'Y': [2.0]}), {'x_column': 'X', 'y_column': 'Z'},
     "y_column='Z': 'Z' is not a column"),
    (QTable({'X': [1.0], 'Y': [2.0], 'x': [0.0]}), {'x_column': 'X', 'y_column': 'Y'},
     "has a column 'x' besides the pixel columns 'X'/'Y'"),
    (QTable({'ra': [1.0], 'dec': [2.0], 'coord': ['a']}), {},
     "has a column 'coord' that is not a SkyCoord"),
    (QTable({'c': SkyCoord([1] * u.deg, [2] * u.deg), 'RA': [1.0], 'DEC': [2.0]}),
     {'ra_column': 'RA', 'dec_column': 'DEC'}, "already has a SkyCoord column 'c'"),
])
def test_standardize_errors_name_the_option(tbl, kwargs, match):
    with pytest.raises(ValueError, match=match):
        standardize_positions(tbl, **kwargs)


def test_command_line_names_in_messages():
    names = {'pixel_columns': '--x-column NAME --y-column NAME',
             'sky_columns': '--ra-column NAME --dec-column NAME'}
    with pytest.raises(ValueError, match='Name them with --x-column NAME --y-column NAME or '
                                         '--ra-column NAME --dec-column NAME'):
        pixel_positions(QTable({'flux': [1.0]}), option_names=names)


def test_no_row_lost_or_reordered(field):
    wcs, x, y, coords = field
    xs = MaskedColumn(x + 1, mask=np.arange(len(x)) % 7 == 0)
    tbl = QTable({'id': np.arange(len(x)), 'X': xs, 'Y': y + 1, 'RA': coords.ra.deg,
                  'DEC': coords.dec.deg})
    std = standardize_positions(tbl, x_column='X', y_column='Y', pixel_origin=1)
    assert len(std) == len(tbl) and std['id'].tolist() == list(range(len(x)))
    assert np.isnan(std['x'][::7]).all()  # masked positions become NaN, rows stay
    px, _ = pixel_positions(std, wcs=wcs)
    ok = ~np.isnan(px)
    np.testing.assert_allclose(px[ok], x[ok])


def test_only_sky_positions_need_a_wcs(field):
    _, _, _, coords = field
    with pytest.raises(ValueError, match=r"only sky positions \(column RA/DEC\); pass wcs="):
        pixel_positions(QTable({'RA': coords.ra.deg, 'DEC': coords.dec.deg}))
    with pytest.raises(ValueError, match="looked for pixel columns"):
        pixel_positions(QTable({'RA': coords.ra.deg, 'DEC': coords.dec.deg}), use='pixel')


def test_check_on_image():
    inside = check_on_image([0.0, 99.4, -0.6, np.nan], [0.0, 99.4, 5.0, 1.0], (100, 100))
    assert inside.tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match=r'none of the 3 candidates falls on the images '
                                         r'\(100 x 100 px\): their pixel positions span '
                                         r'x 500\.0\.\.700\.0'):
        check_on_image([500.0, 600.0, 700.0], [1.0, 2.0, 3.0], (100, 100))
    with pytest.raises(ValueError, match='none of the 2 candidates has a finite pixel position'):
        check_on_image([np.nan, np.nan], [1.0, 1.0], (100, 100))
    x = np.full(20, 500.0)
    x[0] = 5.0
    with pytest.warns(AstropyUserWarning, match=r'19 of the 20 candidates \(95 %\) fall off'):
        check_on_image(x, np.ones(20), (100, 100))
    assert check_on_image([], [], (100, 100)).tolist() == []


def test_classify_table_refuses_a_catalog_of_another_mosaic(small_field):
    import torch

    from astro_clusterclass.classify import classify_table
    from astro_clusterclass.models import get_model

    torch.manual_seed(0)
    model = get_model('compactnet', cutout_size=16, widths=(8, 16))
    with pytest.raises(ValueError, match=r'none of the 2 candidates falls on the images '
                                         r'\(240 x 200 px\)'):
        classify_table(QTable({'x': [2060.0, 2150.3], 'y': [50.0, 120.7]}), small_field,
                       models=model, progress=False)
    wcs = simple_wcs((200, 240))
    coords = wcs.pixel_to_world([60.0, 150.3], [50.0, 120.7])
    shifted = QTable({'x': [460.0, 550.3], 'y': [50.0, 120.7], 'coord': coords})
    with pytest.raises(PositionMismatchError, match='dx=\\+400.0'):
        classify_table(shifted, small_field, models=model, progress=False)
    by_sky = classify_table(shifted, small_field, models=model, progress=False,
                            columns=('coord',))
    good = classify_table(QTable({'x': [60.0, 150.3], 'y': [50.0, 120.7]}), small_field,
                          models=model, progress=False)
    assert by_sky['class_mode'].tolist() == good['class_mode'].tolist()
    np.testing.assert_allclose(by_sky['prob_1'], good['prob_1'], rtol=1e-5)

"""StampRenderer: stamps, composite, scale bar, profile, neighbours, blind mode, cache."""

import io
import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, QTable
from matplotlib.image import imread

from astro_clusterclass.bands import BANDS
from astro_clusterclass.conftest import gaussian_field, simple_wcs
from astro_clusterclass.images import BandImages
from astro_clusterclass.review._render import (COLOR_BANDS, NEIGHBOR_RADIUS, STRETCHES,
                                               StampRenderer, machine_columns)

BAR = (255, 215, 0)
MARK = (0, 255, 255)


def _decode(png):
    """PNG bytes -> (H, W, 3) uint8 array, decoded by matplotlib."""
    image = imread(io.BytesIO(png))
    assert image.dtype == np.float32  # matplotlib decodes 8-bit PNG to floats in [0, 1]
    return np.round(image * 255).astype(int)


def _gaussians(shape, sources, *, sigma=1.5, noise=0.0, seed=0):
    """band -> image with Gaussian sources given as (x, y, {band: amplitude})."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    images = {}
    for band in BANDS:
        data = rng.normal(0.0, noise, shape) if noise else np.zeros(shape)
        for x, y, amplitudes in sources:
            data = data + amplitudes.get(band, 0.0) * np.exp(
                -((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
        images[band] = data.astype(np.float32)
    return images


def _longest_run(mask):
    """Longest horizontal run of True in a 2-D mask."""
    best = 0
    for row in mask:
        run = 0
        for value in row:
            run = run + 1 if value else 0
            best = max(best, run)
    return best


@pytest.fixture
def field_renderer(small_field):
    tbl = QTable({'id': [11, 12], 'x': [60.0, 150.3], 'y': [50.0, 120.7]})
    return StampRenderer(small_field, tbl, size=32)


# -- PNGs --------------------------------------------------------------------------------
@pytest.mark.parametrize('size, zoom', [(32, None), (40, 3), (64, 1)])
def test_pngs_decode_to_the_stamp_shape(small_field, size, zoom):
    tbl = QTable({'x': [60.0, 2.0], 'y': [50.0, 3.0]})  # the second runs off the image
    renderer = StampRenderer(small_field, tbl, size=size, zoom=zoom)
    side = size * renderer.zoom
    if zoom is None:
        assert renderer.zoom == round(256 / size)
    for row in (0, 1):
        for band in BANDS:
            png = renderer.band_png(row, band)
            assert png[:8] == b'\x89PNG\r\n\x1a\n'
            assert _decode(png).shape == (side, side, 3)
        for stretch in STRETCHES:
            assert _decode(renderer.color_png(row, stretch=stretch)).shape == (side, side, 3)


def test_band_stamp_is_north_up_and_centered(small_field):
    # A single bright pixel at (x, y) = (60, 55): 5 px above the candidate at (60, 50).
    images = {b: np.zeros((100, 120), np.float32) for b in BANDS}
    for image in images.values():
        image[55, 60] = 10.0
    renderer = StampRenderer(images, QTable({'x': [60.0], 'y': [50.0]}), size=32, zoom=1)
    grey = _decode(renderer.band_png(0, 'F555W', stretch='linear', scale=(0.0, 10.0),
                                     scale_bar=False))[:, :, 0]
    rows, cols = np.nonzero(grey == 255)
    # The stamp centre is index 16; north up puts y + 5 at display row 31 - (16 + 5).
    assert rows.tolist() == [31 - 21] and cols.tolist() == [16]


# -- colour composite ----------------------------------------------------------------------
@pytest.mark.parametrize('stretch', STRETCHES)
def test_composite_channels_follow_the_bands(stretch):
    red, green, blue = COLOR_BANDS
    assert (red, green, blue) == ('F814W', 'F555W', 'F438W')
    white = {red: 50.0, green: 50.0, blue: 50.0}
    sources = [(30.0, 30.0, {red: 50.0}), (90.0, 30.0, {green: 50.0}),
               (150.0, 30.0, {blue: 50.0}), (210.0, 30.0, white)]
    images = _gaussians((60, 240), sources, noise=0.01)
    tbl = QTable({'x': [s[0] for s in sources], 'y': [s[1] for s in sources]})
    renderer = StampRenderer(images, tbl, size=32, zoom=1)
    centre = []
    for row in range(4):
        rgb = _decode(renderer.color_png(row, stretch=stretch, scale_bar=False))
        centre.append(rgb[15, 16, :3])  # display row of stamp index 16 (north up)
    (r0, g0, b0), (r1, g1, b1), (r2, g2, b2), (r3, g3, b3) = centre
    assert r0 > 150 and g0 < 60 and b0 < 60          # only F814W: red
    assert g1 > 150 and r1 < 60 and b1 < 60          # only F555W: green
    assert b2 > 150 and r2 < 60 and g2 < 60          # only F438W: blue
    assert min(r3, g3, b3) > 150 and max(r3, g3, b3) - min(r3, g3, b3) < 10  # flat: white


def test_composite_band_order_is_an_option():
    images = _gaussians((60, 60), [(30.0, 30.0, {'F814W': 50.0})], noise=0.01)
    renderer = StampRenderer(images, QTable({'x': [30.0], 'y': [30.0]}), size=32, zoom=1,
                             color_bands=('F336W', 'F555W', 'F814W'))
    r, g, b = _decode(renderer.color_png(0, scale_bar=False))[15, 16, :3]
    assert b > 150 and r < 60 and g < 60
    with pytest.raises(ValueError, match='color_bands'):
        StampRenderer(images, QTable({'x': [30.0], 'y': [30.0]}), color_bands=('F814W',))


def test_composite_puts_bands_on_one_flux_scale():
    # Same counts in the three bands, but F814W is twice as sensitive per count in f_nu.
    shape = (60, 60)
    hdus = []
    for band, image in _gaussians(shape, [(30.0, 30.0, {b: 50.0 for b in BANDS})]).items():
        hdu = fits.ImageHDU(image)
        hdu.header['FILTER'] = band
        hdu.header['PHOTPLAM'] = 5000.0
        hdu.header['PHOTFLAM'] = 2e-19 if band == 'F814W' else 1e-19
        hdus.append(hdu)
    renderer = StampRenderer(hdus, QTable({'x': [30.0], 'y': [30.0]}), size=32, zoom=1)
    assert renderer.color_factors == pytest.approx({'F814W': 2.0, 'F555W': 1.0, 'F438W': 1.0})
    r, g, b = _decode(renderer.color_png(0, stretch='linear', scale=(0.0, 100.0),
                                         scale_bar=False))[15, 16, :3]
    assert r == 255 and g == b and abs(g - 128) <= 2  # 100 vs 50 of a 0-100 interval


def test_composite_sky_is_black_whatever_each_bands_sky_level():
    # Skies of very different levels per band (as in HST f_nu, where the red one is the
    # brightest) must not tint the stamp: each band's own sky is black.
    red, green, blue = COLOR_BANDS
    images = _gaussians((80, 80), [(40.0, 40.0, {b: 50.0 for b in BANDS})], noise=0.3)
    for band, sky in ((red, 40.0), (green, 5.0), (blue, 0.5)):
        images[band] = images[band] + np.float32(sky)
    renderer = StampRenderer(images, QTable({'x': [40.0], 'y': [40.0]}), size=48, zoom=1)
    rgb = _decode(renderer.color_png(0, scale_bar=False, marks=False))[:, :, :3]
    corners = np.concatenate([rgb[:8, :8].reshape(-1, 3), rgb[-8:, -8:].reshape(-1, 3)])
    assert np.median(corners, axis=0).max() < 30                  # dark ...
    assert np.ptp(np.median(corners, axis=0)) < 15                # ... and not tinted
    r, g, b = rgb[23, 24]
    assert min(r, g, b) > 150 and max(r, g, b) - min(r, g, b) < 40  # the source stays white


@pytest.mark.parametrize('kind', ['color', 'band'])
def test_pixels_off_the_images_are_drawn_apart(kind):
    images = _gaussians((60, 60), [(5.0, 30.0, {b: 50.0 for b in BANDS})], noise=0.3, seed=2)
    renderer = StampRenderer(images, QTable({'x': [5.0], 'y': [30.0]}), size=32, zoom=1)
    png = renderer.color_png(0, scale_bar=False, marks=False) if kind == 'color' else \
        renderer.band_png(0, 'F555W', scale_bar=False, marks=False)
    rgb = _decode(png)[:, :, :3]
    x0 = int(np.floor(5.0 + 0.5)) - 16                          # first column: -11
    off = np.arange(32) + x0 < 0
    assert off.sum() == 11
    assert np.all(rgb[:, off] == (64, 0, 64))
    assert not np.any(np.all(rgb[:, ~off] == (64, 0, 64), axis=-1))


# -- stretch -------------------------------------------------------------------------------
def test_stretches_are_monotonic_and_differ():
    rng = np.random.default_rng(4)
    images = {b: rng.uniform(0.0, 100.0, (50, 50)).astype(np.float32) for b in BANDS}
    renderer = StampRenderer(images, QTable({'x': [25.0], 'y': [25.0]}), size=32, zoom=1)
    data = images['F555W'][25 - 16:25 + 16, 25 - 16:25 + 16][::-1]  # north up, as shown
    order = np.argsort(data, axis=None, kind='stable')
    shown = {}
    for stretch in STRETCHES:
        grey = _decode(renderer.band_png(0, 'F555W', stretch=stretch, scale=(10.0, 90.0),
                                         scale_bar=False))[:, :, 0]
        values = grey.ravel()[order]
        assert np.all(np.diff(values) >= 0), stretch   # brighter pixels never darker
        assert values[0] == 0 and values[-1] == 255     # vmin -> black, vmax -> white
        assert np.all(grey[data <= 10.0] == 0) and np.all(grey[data >= 90.0] == 255)
        shown[stretch] = grey
    # The linear stretch against an independent computation; sqrt/log/asinh lift the faint end.
    expected = np.round(np.clip((data - 10.0) / 80.0, 0, 1) * 255)
    assert np.abs(shown['linear'] - expected).max() <= 1
    inside = (data > 12.0) & (data < 88.0)
    for stretch in ('sqrt', 'log'):
        assert np.all(shown[stretch][inside] > shown['linear'][inside])
    assert len({g.tobytes() for g in shown.values()}) == len(STRETCHES)


def test_scale_options(field_renderer):
    default = field_renderer.band_png(0, 'F555W')
    assert field_renderer.band_png(0, 'F555W', scale=99.5) == default
    assert field_renderer.band_png(0, 'F555W', scale=90.0) != default
    assert field_renderer.band_png(0, 'F555W', scale='zscale') != default
    assert field_renderer.band_png(0, 'F555W', scale='global') != default
    for bad in (0, 120.0, (3.0, 1.0), (1.0, float('nan')), 'minmax', [1, 2, 3]):
        with pytest.raises(ValueError, match='scale'):
            field_renderer.band_png(0, 'F555W', scale=bad)


# -- scale bar -----------------------------------------------------------------------------
@pytest.mark.parametrize('scale_arcsec, arcsec, pixels', [(0.05, 0.5, 10.0), (0.04, 0.5, 12.5),
                                                          (0.1, 1.0, 10.0)])
def test_scale_bar_length_follows_the_wcs(scale_arcsec, arcsec, pixels):
    shape = (80, 80)
    wcs = simple_wcs(shape, scale_arcsec=scale_arcsec)
    hdus = []
    for band, image in _gaussians(shape, [(40.0, 40.0, {b: 1.0 for b in BANDS})]).items():
        hdu = fits.ImageHDU(image, header=wcs.to_header())
        hdu.header['FILTER'] = band
        hdus.append(hdu)
    renderer = StampRenderer(hdus, QTable({'x': [40.0], 'y': [40.0]}), size=64, zoom=4)
    assert renderer.pixel_scale == pytest.approx(scale_arcsec)
    bar = renderer.scale_bar()
    assert bar['arcsec'] == arcsec and bar['pixels'] == pytest.approx(pixels)
    assert bar['label'].startswith(f'{arcsec:g}"')
    for png in (renderer.band_png(0, 'F814W'), renderer.color_png(0)):
        rgb = _decode(png)[:, :, :3]
        run = _longest_run(np.all(rgb == BAR, axis=2))
        assert run == round(pixels * 4)  # image pixels times the zoom
    plain = _decode(renderer.band_png(0, 'F814W', scale_bar=False))[:, :, :3]
    assert not np.all(plain == BAR, axis=2).any()


def test_scale_bar_in_pixels_without_wcs():
    images = _gaussians((80, 80), [(40.0, 40.0, {b: 1.0 for b in BANDS})])
    renderer = StampRenderer(images, QTable({'x': [40.0], 'y': [40.0]}), size=64, zoom=2)
    assert renderer.pixel_scale is None
    assert renderer.scale_bar() == {'pixels': 10.0, 'arcsec': None, 'display_pixels': 20,
                                    'label': '10 px'}
    rgb = _decode(renderer.band_png(0, 'F555W'))[:, :, :3]
    assert _longest_run(np.all(rgb == BAR, axis=2)) == 20
    explicit = StampRenderer(images, QTable({'x': [40.0], 'y': [40.0]}), size=64, zoom=2,
                             pixel_scale=0.04)
    assert explicit.scale_bar()['display_pixels'] == 25
    with pytest.raises(ValueError, match='pixel_scale'):
        StampRenderer(images, QTable({'x': [40.0], 'y': [40.0]}), pixel_scale=-1)


# -- radial profile --------------------------------------------------------------------------
def _subpixel_profile(data, xc, yc, edges, factor=10):
    """Independent radial profile: each pixel split into factor**2 samples, binned by radius."""
    ny, nx = data.shape
    offsets = (np.arange(factor) + 0.5) / factor - 0.5
    ys = (np.arange(ny)[:, None] + offsets[None, :]).ravel()
    xs = (np.arange(nx)[:, None] + offsets[None, :]).ravel()
    values = np.repeat(np.repeat(data, factor, axis=0), factor, axis=1)
    r = np.hypot(xs[None, :] - xc, ys[:, None] - yc)
    sums = np.histogram(r, bins=edges, weights=values)[0]
    counts = np.histogram(r, bins=edges)[0]
    return sums / counts


@pytest.fixture(scope='module')
def simulated():
    from astro_clusterclass.datasets import make_cluster_field

    field = make_cluster_field((256, 256), 12, seed=3, class_fractions={1: 1, 4: 1},
                               subclass_fractions={'4.1': 1}, position_error=0.0,
                               galaxy=False, n_field_stars=0, min_separation=20)
    tbl = field.labelled_candidates(('class', 'subclass', 'mag_F555W', 'r_eff_pix'))
    return field, tbl


def test_profile_matches_independent_binning(simulated):
    field, tbl = simulated
    renderer = StampRenderer(field.images, tbl)
    # Zero beyond the edges, as the stamps are padded.
    image = np.pad(np.asarray(field.images['F555W'], dtype=float), 32)
    for row in range(len(tbl)):
        profile = renderer.profile(row)
        x, y = float(tbl['x'][row]), float(tbl['y'][row])
        ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        stamp = image[iy:iy + 64, ix:ix + 64]
        xc, yc = x - (ix - 32), y - (iy - 32)
        yy, xx = np.indices(stamp.shape)
        r = np.hypot(xx - xc, yy - yc)
        background = np.median(stamp[(r >= 10) & (r < 15)])
        expected = _subpixel_profile(stamp - background, xc, yc, np.arange(0.0, 11.0))
        expected = expected / expected.max()
        assert profile['radius'] == pytest.approx(np.arange(0.5, 10.0))
        assert np.abs(np.array(profile['profile']) - expected).max() < 0.02
        assert profile['background'] == pytest.approx(background, abs=0.02 * profile['peak'])
        assert profile['center'] == pytest.approx([x, y])
        json.dumps(profile)


def test_profile_subtracts_the_local_background():
    source = [(40.0, 40.0, {b: 10.0 for b in BANDS})]
    flat = _gaussians((80, 80), source, noise=0.01, seed=1)
    lifted = {b: image + np.float32(3.0) for b, image in flat.items()}
    tbl = QTable({'x': [40.0], 'y': [40.0]})
    on_flat = StampRenderer(flat, tbl, size=48).profile(0)
    on_pedestal = StampRenderer(lifted, tbl, size=48).profile(0)
    assert on_pedestal['background'] == pytest.approx(on_flat['background'] + 3.0, abs=1e-3)
    assert on_pedestal['profile'] == pytest.approx(on_flat['profile'], abs=1e-3)
    assert on_pedestal['peak'] == pytest.approx(on_flat['peak'], rel=1e-3)
    # A Gaussian of sigma 1.5 px has a FWHM of 2.355 sigma; the 1 px bins broaden it a little.
    assert 2.3548 * 1.5 < on_flat['fwhm'] < 1.1 * 2.3548 * 1.5


def test_point_source_follows_the_psf_and_a_cluster_is_wider(simulated):
    from astro_clusterclass.datasets import pixel_psf

    field, tbl = simulated
    renderer = StampRenderer(field.images, tbl)
    psf = pixel_psf('F555W')
    expected = _subpixel_profile(psf, 32.0, 32.0, np.arange(0.0, 11.0))
    expected = expected / expected.max()
    reference = renderer.reference_profile()
    assert reference['kind'] == 'psf' and 'simulated F555W PSF' in reference['description']
    assert np.abs(np.array(reference['profile']) - expected).max() < 0.01
    stars = [row for row in range(len(tbl)) if tbl['subclass'][row] == '4.1']
    clusters = [row for row in range(len(tbl))
                if tbl['class'][row] == 1 and tbl['r_eff_pix'][row] > 0.7]
    assert len(stars) >= 4 and len(clusters) >= 4
    for row in stars:
        profile = np.array(renderer.profile(row)['profile'])
        assert np.abs(profile - expected).max() < 0.07, row
    for row in clusters:
        profile = np.array(renderer.profile(row)['profile'])
        assert profile[1] > expected[1] + 0.05 and profile[2] > expected[2] + 0.05, row
        assert renderer.profile(row)['fwhm'] > reference['fwhm']


def test_profile_reference_from_the_fields_stars():
    # Point sources (sigma 1.2) and extended ones (sigma 3); a close pair of point sources.
    points = [(30.0, 30.0), (90.0, 30.0), (150.0, 30.0), (30.0, 90.0), (90.0, 90.0)]
    wide = [(150.0, 90.0), (30.0, 150.0), (90.0, 150.0)]
    pair = [(150.0, 150.0), (153.0, 151.0)]
    images = {b: np.zeros((180, 180), np.float32) for b in BANDS}
    yy, xx = np.mgrid[:180, :180]
    for positions, sigma in ((points, 1.2), (wide, 3.0), (pair, 1.2)):
        for x, y in positions:
            for image in images.values():
                image += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    everything = points + wide + pair
    tbl = QTable({'x': [p[0] for p in everything], 'y': [p[1] for p in everything],
                  'ci': [1.0, 1.05, 1.1, 1.15, 1.2, 1.8, 1.9, 2.0, 0.8, 0.85],
                  'mag_F555W': [20.0, 19.0, 21.0, 22.0, 23.0, 18.0, 18.0, 18.0, 17.0, 17.0]})
    renderer = StampRenderer(images, tbl, size=40)
    reference = renderer.reference_profile()
    assert reference['kind'] == 'stars'
    # Isolated (not the pair), lowest CI quartile, brightest first.
    assert reference['rows'] == [1, 0]
    star = np.array(renderer.profile(0)['profile'])
    assert np.abs(np.array(reference['profile']) - star).max() < 0.01
    assert StampRenderer(images, tbl, size=40, reference='none').reference_profile() is None
    no_ci = StampRenderer(images, tbl[['x', 'y']], size=40)
    assert no_ci.profile(0)['reference'] is None
    given = StampRenderer(images, tbl, size=40, psf=images['F555W'][60:121, 60:121])
    assert given.reference_profile()['kind'] == 'psf'
    with pytest.raises(ValueError, match='psf'):
        StampRenderer(images, tbl, psf=np.ones((4, 4)))


# -- details, neighbours, blind mode -----------------------------------------------------------
def test_neighbors_against_brute_force():
    rng = np.random.default_rng(7)
    centres = rng.uniform(10, 190, (40, 2))
    points = np.concatenate([centres, centres[:30] + rng.normal(0, 3.0, (30, 2)),
                             rng.uniform(0, 200, (100, 2))])
    points[5] = np.nan  # a row without a position
    tbl = QTable({'id': np.arange(len(points)) + 1000, 'x': points[:, 0], 'y': points[:, 1]})
    images = {b: np.zeros((200, 200), np.float32) for b in BANDS}
    renderer = StampRenderer(images, tbl, size=32)
    found_any = 0
    for row in range(len(points)):
        distance = np.hypot(*(points - points[row]).T)
        expected = {int(i) for i in np.flatnonzero(distance <= NEIGHBOR_RADIUS) if i != row}
        neighbors = renderer.details(row)['neighbors']
        assert {n['row'] for n in neighbors} == expected, row
        assert [n['distance'] for n in neighbors] == sorted(n['distance'] for n in neighbors)
        for n in neighbors:
            assert n['id'] == 1000 + n['row']
            assert n['dx'] == pytest.approx(points[n['row'], 0] - points[row, 0], abs=1e-3)
            assert n['distance'] == pytest.approx(distance[n['row']], abs=1e-3)
        found_any += bool(expected)
    assert found_any > 10


def test_neighbors_are_marked_on_the_stamps():
    images = {b: np.zeros((100, 100), np.float32) for b in BANDS}
    tbl = QTable({'x': [50.0, 53.0, 80.0], 'y': [50.0, 54.0, 80.0]})  # 5.0 px apart, one far
    renderer = StampRenderer(images, tbl, size=32, zoom=4)
    marked = np.all(_decode(renderer.band_png(0, 'F555W', scale_bar=False))[:, :, :3] == MARK,
                    axis=2)
    plain = np.all(_decode(renderer.band_png(0, 'F555W', scale_bar=False, marks=False))
                   [:, :, :3] == MARK, axis=2)
    assert marked.any() and not plain.any()
    rows, cols = np.nonzero(marked)
    # The ring is centred on the neighbour: stamp index (16 + 3, 16 + 4), north up, zoomed.
    assert np.mean(cols) == pytest.approx((16 + 3 + 0.5) * 4 - 0.5, abs=0.5)
    assert np.mean(rows) == pytest.approx((32 - 0.5 - (16 + 4)) * 4 - 0.5, abs=0.5)
    lonely = _decode(renderer.band_png(2, 'F555W', scale_bar=False))[:, :, :3]
    assert not np.all(lonely == MARK, axis=2).any()


def _classified_table():
    n = 4
    tbl = QTable({
        'id': ['a', 'b', 'c', 'd'], 'x': [30.0, 60.0, 90.0, 120.0], 'y': [30.0] * n,
        'ci': [1.2, 1.5, 1.7, np.nan],
        'mag_F275W': [22.0, 23.0, 24.0, 25.0], 'mag_F336W': [21.5, 22.1, 23.0, 24.0],
        'mag_F438W': [21.0, 22.0, 23.0, 24.0], 'mag_F555W': [20.75, 21.5, 22.5, 23.5],
        'mag_F814W': MaskedColumn([20.0, 21.0, 22.0, 23.0], mask=[False, False, True, False]),
        'magerr_F555W': [0.01, 0.02, 0.03, 0.04],
        'class': [1, 2, 3, 4], 'class_human': [1, 2, 3, 4],
        'class_flag': np.zeros(n, np.uint8), 'class_resnet18': [1, 2, 2, 4],
        'class_vgg19_bn': [1, 3, 2, 4], 'class_mode': [1, 2, 2, 4],
        'class_mean': [1.0, 2.5, 2.0, 4.0], 'class_median': [1.0, 2.5, 2.0, 4.0],
        'class_std': [0.0, 0.5, 0.0, 0.0], 'class_quality': [1.0, 0.5, 1.0, 1.0],
        'n_models': [2] * n, 'prob_1': [0.913579, 0.1, 0.1, 0.0],
        'prob_2': [0.05, 0.5, 0.6, 0.0], 'prob_3': [0.03, 0.3, 0.2, 0.0],
        'prob_4': [0.006421, 0.1, 0.1, 1.0], 'prob_entropy': [0.2, 0.8, 0.7, 0.0],
        'prob_margin': [0.86, 0.2, 0.4, 1.0], 'prob_mutual_info': [0.0, 0.1, 0.0, 0.0]},
        meta={'classification': {'models': [{'label': 'resnet18'}, {'label': 'vgg19_bn'}]}})
    return tbl


def test_details_show_the_tables_measurements(small_field):
    tbl = _classified_table()
    renderer = StampRenderer(small_field, tbl, size=32)
    details = renderer.details(0)
    json.dumps(details)
    assert details['id'] == 'a' and details['row'] == 0
    assert details['x'] == 30.0 and details['ci'] == 1.2
    ra, dec = simple_wcs((200, 240)).pixel_to_world_values(30.0, 30.0)  # the field's WCS
    assert details['ra'] == pytest.approx(float(ra)) and details['dec'] == pytest.approx(
        float(dec))
    assert details['magnitudes'] == {'F275W': 22.0, 'F336W': 21.5, 'F438W': 21.0,
                                     'F555W': 20.75, 'F814W': 20.0}
    assert details['magnitude_errors'] == {'F555W': 0.01}
    assert details['colors'] == pytest.approx({'F275W-F336W': 0.5, 'F336W-F438W': 0.5,
                                               'F438W-F555W': 0.25, 'F555W-F814W': 0.75})
    masked = renderer.details(2)
    assert masked['magnitudes']['F814W'] is None and masked['colors']['F555W-F814W'] is None
    assert renderer.details(3)['ci'] is None
    machine = details['machine']
    assert machine['class'] == 1 and machine['quality'] == 1.0 and machine['n_models'] == 2
    assert machine['votes'] == {'resnet18': 1, 'vgg19_bn': 1}
    assert machine['probabilities'] == {'1': 0.913579, '2': 0.05, '3': 0.03, '4': 0.006421}
    assert machine['uncertainty'] == {'entropy': 0.2, 'margin': 0.86, 'mutual_info': 0.0}
    assert details['catalog_classes'] == {'class': 1, 'class_human': 1}
    assert details['edge'] is False and details['on_image'] is True
    assert renderer.details(0)['scale_bar']['arcsec'] == 0.25  # 32 px of 0.04"


def test_blind_mode_removes_every_machine_column(small_field):
    tbl = _classified_table()
    machine = machine_columns(tbl)
    assert set(machine) == {'class_flag', 'class_resnet18', 'class_vgg19_bn', 'class_mode',
                            'class_mean', 'class_median', 'class_std', 'class_quality',
                            'n_models', 'prob_1', 'prob_2', 'prob_3', 'prob_4',
                            'prob_entropy', 'prob_margin', 'prob_mutual_info'}
    renderer = StampRenderer(small_field, tbl, size=32)
    seen = renderer.details(0)
    assert set(seen['machine']['columns']) == set(machine)
    blind = renderer.details(0, blind=True)
    assert blind['blind'] is True and 'machine' not in blind and 'catalog_classes' not in blind
    text = json.dumps(blind)
    for name in machine + ['class', 'class_human']:
        assert f'"{name}"' not in text
    assert '0.913579' not in text and '0.006421' not in text
    # Nothing else changed.
    for key in blind:
        if key != 'blind':
            assert blind[key] == seen[key]


def test_machine_columns_of_legus_and_phangs_tables():
    legus = QTable({'x': [1.0], 'class': [1], 'class_mean': [1.3], 'class_human': [1],
                    'class_ml': [2], 'class_ml_check': [2]})
    assert machine_columns(legus) == ['class_ml', 'class_ml_check']
    phangs = QTable({'x': [1.0], 'class_human': [1], 'class_ml': [2],
                     'class_ml_quality': [0.7], 'subclass_ml': ['']})
    assert machine_columns(phangs) == ['class_ml', 'class_ml_quality', 'subclass_ml']
    images = {b: np.zeros((40, 40), np.float32) for b in BANDS}
    details = StampRenderer(images, QTable({'x': [20.0], 'y': [20.0], 'class_ml': [2],
                                            'class_ml_quality': [0.7]}), size=16).details(0)
    assert details['machine']['class'] == 2 and details['machine']['quality'] == 0.7


# -- errors ----------------------------------------------------------------------------------
def test_bad_rows_and_bands_are_named(field_renderer):
    for method in (field_renderer.band_png, field_renderer.color_png, field_renderer.profile,
                   field_renderer.details):
        args = ('F555W',) if method == field_renderer.band_png else ()
        for row in (-1, 2, 10 ** 9):
            with pytest.raises(IndexError, match=f'row {row} is out of range.*2 rows'):
                method(row, *args)
        for row in ('1', 1.0, None, True):
            with pytest.raises(ValueError, match=f'row must be an integer.*{row!r}'):
                method(row, *args)
    assert field_renderer.band_png(np.int64(1), 'F555W')
    for band in ('F999W', '../../etc/passwd', '', None):
        with pytest.raises(ValueError, match=f'band {band!r} is not one of the bands'):
            field_renderer.band_png(0, band)
    assert field_renderer.band_png(0, 'V') == field_renderer.band_png(0, 'F555W')
    with pytest.raises(ValueError, match='stretch must be one of'):
        field_renderer.band_png(0, 'F555W', stretch='cube')
    with pytest.raises(ValueError, match='q must be'):
        field_renderer.color_png(0, q=0)
    with pytest.raises(ValueError, match='size'):
        StampRenderer(gaussian_field(), QTable({'x': [1.0], 'y': [1.0]}), size=2)
    with pytest.raises(ValueError, match='reference'):
        StampRenderer(gaussian_field(), QTable({'x': [1.0], 'y': [1.0]}), reference='psfs')
    with pytest.raises(TypeError, match='tbl must be an astropy Table'):
        StampRenderer(gaussian_field(), [1.0])


# -- cache and pixel access -----------------------------------------------------------------
def test_cache_returns_the_same_bytes_and_stays_bounded(small_field):
    rng = np.random.default_rng(2)
    tbl = QTable({'x': rng.uniform(20, 220, 30), 'y': rng.uniform(20, 180, 30)})
    renderer = StampRenderer(small_field, tbl, size=32, cache_size=5)
    first = renderer.band_png(3, 'F814W')
    assert renderer.band_png(3, 'F814W') is first
    assert renderer.cache_info()['hits'] == 1
    for row in range(30):
        renderer.band_png(row, 'F555W')
        renderer.color_png(row)
        info = renderer.cache_info()
        assert info['entries'] <= 5 and info['stamps'] <= 2
    again = renderer.band_png(3, 'F814W')  # evicted and made again: same bytes
    assert again == first and again is not first
    fresh = StampRenderer(small_field, tbl, size=32)
    assert fresh.color_png(7) == renderer.color_png(7)
    assert fresh.profile(7) == renderer.profile(7)


class _RecordingImage:
    """A 2-D image that records what is read and refuses to be read whole."""

    def __init__(self, data, reads):
        self._data, self._reads = data, reads
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, 2

    def __getitem__(self, key):
        self._reads.append(key)
        return self._data[key]

    def __array__(self, *args, **kwargs):
        msg = 'the whole image was read'
        raise AssertionError(msg)


def test_first_render_reads_only_the_stamp():
    reads = []
    arrays = _gaussians((400, 300), [(100.0, 200.0, {b: 5.0 for b in BANDS})], noise=0.1)
    images = BandImages([_RecordingImage(arrays[b], reads) for b in BANDS])
    tbl = QTable({'x': [100.0, 250.0], 'y': [200.0, 60.0], 'ci': [1.1, 1.2]})
    renderer = StampRenderer(images, tbl, size=32, reference='none')
    assert not reads
    renderer.details(0)
    assert not reads  # details come from the table alone
    for band in BANDS:
        renderer.band_png(0, band)
    renderer.color_png(0)
    renderer.profile(0)
    assert reads, 'nothing was read'
    for key in reads:  # each band is read once, rows of the stamp only
        assert isinstance(key, slice) and key.start >= 200 - 16 and key.stop <= 200 + 16
    assert len(reads) == len(BANDS)


def _mapped_kib(path):
    """Resident KiB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    with open('/proc/self/smaps') as smaps:
        for line in smaps:
            fields = line.split()
            if len(fields) >= 5 and '-' in fields[0] and ':' in fields[3]:
                inside = line.rstrip().endswith(str(path))
            elif inside and fields[0] == 'Rss:':
                total += int(fields[1])
    return total


@pytest.mark.skipif(not __import__('os').path.exists('/proc/self/smaps'),
                    reason='needs /proc/self/smaps (Linux)')
@pytest.mark.parametrize('opened_by, release, released', [
    ('renderer', 'auto', True), ('caller', 'auto', False), ('caller', True, True),
    ('renderer', False, False)])
def test_pages_read_are_handed_back(tmp_path, opened_by, release, released):
    from astro_clusterclass.images import load_images

    shape = (1024, 1024)
    rng = np.random.default_rng(0)
    paths = []
    for band in BANDS:
        hdu = fits.PrimaryHDU(rng.normal(0, 1, shape).astype(np.float32))
        hdu.header['FILTER'] = band
        paths.append(tmp_path / f'{band}.fits')
        hdu.writeto(paths[-1])
    tbl = QTable({'x': rng.uniform(40, 980, 40), 'y': rng.uniform(40, 980, 40)})
    opened = load_images([str(p) for p in paths])
    images = opened if opened_by == 'caller' else [str(p) for p in paths]
    with StampRenderer(images, tbl, size=64, release_pages=release) as renderer:
        assert len(renderer._maps) == (len(BANDS) if released else 0)
        pngs = [renderer.band_png(row, 'F555W') for row in range(len(tbl))]
        resident = _mapped_kib(paths[3])
        if released:
            assert resident <= 64  # what the last stamp may have left
        else:
            assert resident >= 40 * 64 * 4 / 1024  # at least the rows the stamps touched
    opened.close()
    reference = StampRenderer({b: fits.getdata(p) for b, p in zip(BANDS, paths)},
                              tbl, size=64)
    assert pngs == [reference.band_png(row, 'F555W') for row in range(len(tbl))]
    assert reference._maps == []
    with pytest.raises(ValueError, match='release_pages'):
        StampRenderer(images, tbl, release_pages='yes')

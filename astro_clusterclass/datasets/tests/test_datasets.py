"""The simulated five-band fields: structure, determinism, inputs, writers."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs.utils import proj_plane_pixel_scales

from astro_clusterclass import BANDS, load_images, make_cutouts
from astro_clusterclass.datasets import (DEFAULT_CLASS_FRACTIONS, DEFAULT_SUBCLASS_FRACTIONS,
                                         SimulatedField, make_cluster_field)
from astro_clusterclass.datasets._population import (LABELS, PLACEMENTS, POPULATIONS, RECIPES,
                                                     allocate_labels)

ALL_SUBCLASSES = {k: 1 for k in DEFAULT_SUBCLASS_FRACTIONS}


def _labels(truth):
    return [s if s else str(c) for c, s in zip(truth['class'], truth['subclass'])]


@pytest.fixture(scope='module')
def field():
    """Every label present: balanced classes and all class-4 subclasses."""
    return make_cluster_field((600, 600), 160, seed=3,
                              class_fractions={1: 1, 2: 1, 3: 1, 4: 1.5},
                              subclass_fractions=ALL_SUBCLASSES)


def test_images_and_headers(field):
    assert isinstance(field, SimulatedField)
    assert len(field.hdus) == 5
    for band, hdu in zip(BANDS, field.hdus):
        assert hdu.data.dtype == np.float32
        assert hdu.data.shape == (600, 600)
        header = hdu.header
        assert header['FILTER'] == band
        assert header['BUNIT'] == 'ELECTRONS/S'
        for key in ('PHOTFLAM', 'PHOTPLAM', 'PHOTZPT', 'ZP_VEGA', 'EXPTIME'):
            assert header[key] > 0 or key == 'PHOTZPT'
    # The shipped NGC 3351 keywords (PHANGS-HST header_info file).
    assert field.hdus[3].header['ZP_VEGA'] == pytest.approx(25.8325)
    assert field.hdus[3].header['EXPTIME'] == pytest.approx(3152.0)
    wcs = field.images.wcs
    assert wcs.has_celestial
    scale = proj_plane_pixel_scales(wcs) * 3600
    np.testing.assert_allclose(scale, 0.04, rtol=1e-9)
    assert repr(field.images).startswith('<BandImages 600x600 px, bands: F275W')
    assert field.images.meta['F555W']['PHOTFLAM'] == field.hdus[3].header['PHOTFLAM']


def test_truth_table(field):
    truth = field.truth
    expected = ['id', 'x', 'y', 'coord', 'class', 'subclass',
                *[f'mag_{b}' for b in BANDS], 'abs_mag_F555W', 'age', 'mass', 'ebv',
                'r_eff', 'r_eff_pix', 'axis_ratio', 'n_stars', 'parent_id', 'description']
    assert truth.colnames == expected
    assert isinstance(truth['coord'], SkyCoord)
    assert truth['mag_F555W'].unit == u.mag
    assert truth['age'].unit == u.yr and truth['mass'].unit == u.solMass
    assert truth['r_eff'].unit == u.pc
    assert list(truth['id']) == list(range(1, len(truth) + 1))
    assert set(truth['class']) == {1, 2, 3, 4}
    assert set(truth['subclass'][truth['class'] < 4]) == {''}
    assert set(_labels(truth)) == set(LABELS)
    # Counts follow the requested fractions exactly.
    counts = allocate_labels(160, {1: 1, 2: 1, 3: 1, 4: 1.5}, ALL_SUBCLASSES)
    labels = _labels(truth)
    assert {lab: labels.count(lab) for lab in LABELS} == counts
    # Sky positions are the WCS of the pixel positions.
    x, y = field.wcs.world_to_pixel(truth['coord'])
    np.testing.assert_allclose(x, truth['x'], atol=1e-6)
    np.testing.assert_allclose(y, truth['y'], atol=1e-6)
    assert all(truth['description'])
    assert truth.meta['function'] == 'make_cluster_field'
    assert truth.meta['arguments']['seed'] == 3


def test_classes_carry_their_physics(field):
    truth = field.truth
    labels = np.array(_labels(truth))
    clusters = np.isin(labels, ('1', '2', '3'))
    assert np.all(truth['mass'][clusters] > 0 * u.solMass)
    assert np.all(truth['age'][clusters] >= 1e6 * u.yr)
    # Candidates other than the faint, fluffy and light-less ones obey v_limit.
    bright = ~np.isin(labels, ('4.4', '4.5', '4.6', '4.8', '4.9', '4.10', '4.12'))
    assert np.all(truth['mag_F555W'][bright] <= 24.0 * u.mag)
    # Class 1 clusters are round and resolved; class 3 has >= 4 stars.
    assert np.all(truth['axis_ratio'][labels == '1'] >= 0.85)
    assert np.all(truth['r_eff_pix'][labels == '1'] >= 0.6)
    assert np.all(truth['n_stars'][labels == '3'] >= 4)
    assert np.all(truth['n_stars'][labels == '4.2'] == 2)
    assert np.all(truth['n_stars'][labels == '4.3'] == 3)
    # Light-less detections have no magnitudes and point at their parent.
    for label, parents in (('4.9', ('1', '2', '3')), ('4.5', ('4.4',))):
        for row in truth[labels == label]:
            assert np.isnan(row['mag_F555W'])
            parent = truth[row['parent_id'] - 1]
            assert (parent['subclass'] or str(parent['class'])) in parents
            d = np.hypot(row['x'] - parent['x'], row['y'] - parent['y'])
            assert (2.5 <= d <= 5.0) if label == '4.9' else (8 <= d <= 20)
    # Edge objects touch the border.
    edge = truth[labels == '4.11']
    dist = np.minimum.reduce([edge['x'], edge['y'], 599 - edge['x'], 599 - edge['y']])
    assert np.all(dist <= 3.0)


def test_bad_pixels_are_sharp_and_single_band(field):
    truth = field.truth
    labels = np.array(_labels(truth))
    for row in truth[labels == '4.12']:
        ix, iy = int(np.floor(row['x'] + 0.5)), int(np.floor(row['y'] + 0.5))
        hot = []
        for img in field.images:
            box = img[iy - 3:iy + 4, ix - 3:ix + 4]
            ring = np.concatenate([box[0], box[-1], box[1:-1, 0], box[1:-1, -1]])
            sigma = 1.4826 * np.median(np.abs(ring - np.median(ring)))
            hot.append((img[iy, ix] - np.median(ring)) / sigma)
        hot = np.array(hot)
        assert hot.max() > 10
        assert np.sum(hot > 10) == 1


def test_saturated_stars_are_flat_topped(field):
    truth = field.truth
    row = truth[np.array(_labels(truth)) == '4.4'][0]
    ix, iy = int(np.floor(row['x'] + 0.5)), int(np.floor(row['y'] + 0.5))
    image = field.images['F555W']
    header = field.hdus[3].header
    level = 63000.0 * header['NCOMBINE'] / header['EXPTIME']
    core = image[iy - 1:iy + 2, ix - 1:ix + 2]
    # Clipped at the full well (plus noise and the galaxy below).
    assert np.all(core > 0.9 * level)
    assert np.all(core < level + 0.2 * level)
    # Bleeding runs along the column further than along the row.
    column = np.sum(image[:, ix] > 0.9 * level)
    row_count = np.sum(image[iy, :] > 0.9 * level)
    assert column > row_count


def test_candidates(field):
    cand, truth = field.candidates, field.truth
    assert cand.colnames == ['id', 'x', 'y', 'coord', 'truth_id']
    assert sorted(cand['truth_id']) == list(truth['id'])
    assert np.all(np.diff(cand['y']) >= 0)  # source-finder order
    matched = truth[cand['truth_id'] - 1]
    offset = np.hypot(cand['x'] - matched['x'], cand['y'] - matched['y'])
    assert 0 < np.median(offset) < 0.5
    assert offset.max() <= 1.0 * np.sqrt(2) * 5  # clipped at 1 px sigma: 5 sigma bound
    assert isinstance(cand['coord'], SkyCoord)


def test_cutouts_of_the_candidates(field):
    stamps = make_cutouts(field.images, field.candidates, size=32)
    assert stamps.data.shape == (len(field.candidates), 5, 32, 32)
    assert np.all(np.isfinite(stamps.data))


def test_deterministic_for_a_seed():
    a = make_cluster_field((256, 256), 25, seed=11)
    b = make_cluster_field((256, 256), 25, seed=11)
    c = make_cluster_field((256, 256), 25, seed=12)
    for ha, hb in zip(a.hdus, b.hdus):
        np.testing.assert_array_equal(ha.data, hb.data)
    for name in ('x', 'y', 'class', 'subclass', 'mag_F555W'):
        np.testing.assert_array_equal(a.truth[name], b.truth[name])
    np.testing.assert_array_equal(a.candidates['x'], b.candidates['x'])
    assert not np.array_equal(a.hdus[3].data, c.hdus[3].data)


def test_default_mix_and_sizes():
    f = make_cluster_field((300, 300), seed=0)
    assert len(f.truth) == round(5000 / 4000 ** 2 * 300 * 300)
    assert len(f.field_stars) == round(1.25e-3 * 300 * 300)
    assert sum(DEFAULT_CLASS_FRACTIONS.values()) == pytest.approx(1)
    assert sum(DEFAULT_SUBCLASS_FRACTIONS.values()) == pytest.approx(1)
    # Table 3 of Whitmore et al. (2021): 2229 of 4914 humanly classified objects are class 4.
    assert DEFAULT_CLASS_FRACTIONS[4] == pytest.approx(0.4536, abs=1e-4)


def test_allocate_labels_caps():
    counts = allocate_labels(50, {4: 1}, {'4.6': 1, '4.5': 1})
    assert counts['4.6'] == 1 and counts['4.1'] == 24  # one nucleus per field
    assert counts['4.4'] == 1 and counts['4.5'] == 24  # spikes need a saturated star
    assert sum(counts.values()) == 50


def test_recipe_table_covers_every_label():
    assert set(RECIPES) == set(LABELS)
    for label, recipe in RECIPES.items():
        assert recipe.placement in PLACEMENTS, label
        assert recipe.build.__doc__, label  # each builder says what it makes
        assert (recipe.young_fraction is not None) == (recipe.placement == 'galaxy'), label
        assert recipe.population in (None, *POPULATIONS), label
    assert sum(r.placement == 'center' for r in RECIPES.values()) == 1  # the nucleus


def test_every_label_is_built_by_its_recipe(field):
    labels = _labels(field.truth)
    assert set(labels) == set(LABELS)
    parents = field.truth['parent_id'] > 0
    dependent = np.array([RECIPES[lab].placement == 'parent' for lab in labels])
    np.testing.assert_array_equal(parents, dependent)


def test_noiseless_and_no_galaxy():
    f = make_cluster_field((128, 128), 0, seed=0, noise=False, galaxy=False, n_field_stars=0)
    assert len(f.truth) == 0 and len(f.candidates) == 0
    assert all(np.all(h.data == 0) for h in f.hdus)


def test_flux_is_conserved():
    """Aperture photometry of isolated noiseless stars recovers the truth."""
    from photutils.aperture import CircularAperture, aperture_photometry
    from astro_clusterclass.datasets._psf import encircled_energy

    # Stars more than PSF_OUTER_RADIUS (128 px) apart do not share light.
    f = make_cluster_field((900, 900), 4, seed=5, noise=False, galaxy=False, n_field_stars=0,
                           min_separation=260, class_fractions={4: 1},
                           subclass_fractions={'4.1': 1})
    for b, band in enumerate(BANDS):
        zp = f.hdus[b].header['ZP_VEGA']
        rate = 10 ** (-0.4 * (f.truth[f'mag_{band}'].value - zp))
        pos = np.stack([f.truth['x'], f.truth['y']], axis=1)
        flux = aperture_photometry(f.images[band], CircularAperture(pos, 20))['aperture_sum']
        expected = encircled_energy(band, 20) / encircled_energy(band, 128)
        np.testing.assert_allclose(flux / rate, expected, rtol=0.015)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'n_candidates': -1}, ValueError, 'n_candidates must be a non-negative integer'),
    ({'n_candidates': 2.5}, ValueError, 'n_candidates must be a non-negative integer'),
    ({'n_field_stars': -3}, ValueError, 'n_field_stars must be a non-negative integer'),
    ({'distance': 10.0}, TypeError, 'distance must be a Quantity with length units'),
    ({'distance': 10 * u.s}, ValueError, 'distance must be a scalar length'),
    ({'distance': -1 * u.Mpc}, ValueError, 'distance must be finite and beyond'),
    ({'shape': (32, 500)}, ValueError, 'shape must be two integers'),
    ({'shape': (100,)}, ValueError, 'shape must be two integers'),
    ({'n_candidates': 5000, 'shape': (512, 512)}, ValueError,
     r'shape \(512, 512\) is too small for n_candidates=5000'),
    ({'class_fractions': {5: 1}}, ValueError, 'class_fractions has an unknown class 5'),
    ({'class_fractions': {1: -1, 2: 1}}, ValueError, r"class_fractions\[1\] must be"),
    ({'class_fractions': {1: 0}}, ValueError, 'class_fractions must have at least one'),
    ({'subclass_fractions': {'4.13': 1}}, ValueError, 'subclass_fractions has an unknown'),
    ({'exptime': {'F999W': 100}}, ValueError, "exptime.*'F999W' is not a known band"),
    ({'exptime': {'F555W': -100}}, ValueError, r"exptime\['F555W'\] must be a positive number"),
    ({'crowding': -1}, ValueError, 'crowding must be a non-negative number'),
    ({'min_separation': -1}, ValueError, 'min_separation must be'),
    ({'pixel_scale': 0.04}, TypeError, 'pixel_scale must be an angle'),
    ({'center': (10, 20)}, TypeError, 'center must be a scalar SkyCoord'),
])
def test_bad_inputs(kwargs, error, match):
    args = {'shape': (128, 128), 'n_candidates': 5}
    args.update(kwargs)
    shape = args.pop('shape')
    with pytest.raises(error, match=match):
        make_cluster_field(shape, **args)


def test_exptime_override_sets_noise():
    short = make_cluster_field((128, 128), 0, seed=1, exptime={'F555W': 100 * u.s},
                               galaxy=False, n_field_stars=0)
    long = make_cluster_field((128, 128), 0, seed=1, galaxy=False, n_field_stars=0)
    assert short.hdus[3].header['EXPTIME'] == 100
    # Empty-sky noise (e-/s): sqrt(sky t + nexp RN^2) / t, with the WFC3/UVIS
    # read noise of 3.1 e-, 10 exposures and a sky of 0.045 e-/s.

    def expected(t):
        return np.sqrt(0.045 * t + 10 * 3.1 ** 2) / t

    ratio = np.std(short.images['F555W']) / np.std(long.images['F555W'])
    assert ratio == pytest.approx(expected(100) / expected(3152), rel=0.05)


def test_write_round_trip(tmp_path, field):
    paths = field.write(tmp_path / 'out')
    assert sorted(paths) == sorted([*BANDS, 'truth', 'candidates'])
    images = load_images([paths[b] for b in reversed(BANDS)])
    np.testing.assert_array_equal(images['F438W'], field.images['F438W'])
    assert images.wcs.has_celestial
    with fits.open(paths['F275W']) as hdul:
        assert hdul[0].header['FILTER'] == 'F275W'
        assert hdul['SCI'].header['PHOTFLAM'] == field.hdus[0].header['PHOTFLAM']
    images.close()
    truth = QTable.read(paths['truth'])
    assert truth.colnames == field.truth.colnames
    assert isinstance(truth['coord'], SkyCoord)
    np.testing.assert_array_equal(truth['subclass'], field.truth['subclass'])
    cand = QTable.read(paths['candidates'])
    np.testing.assert_array_equal(cand['truth_id'], field.candidates['truth_id'])
    with pytest.raises(FileExistsError, match='pass overwrite=True'):
        field.write(tmp_path / 'out')
    field.write(tmp_path / 'out', overwrite=True)

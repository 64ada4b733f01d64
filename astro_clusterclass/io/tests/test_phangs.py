"""
The PHANGS-HST release reader, on FITS tables the tests write with the release's columns.

Column names follow the release (Maschmann et al. 2024 data-description
tables; the DR4 readme): INDEX, ID_PHANGS_*, PHANGS_X/Y (0-based),
PHANGS_RA/DEC, PHANGS_<filter>_VEGA(_ERR), PHANGS_<filter>_mJy with
_mJy_ERR or, for F555W and F814W in real files, _mJy_TOT_ERR; −9999 outside
a band's footprint, −999 for SED fits not made.
"""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.utils.exceptions import AstropyUserWarning

from astro_clusterclass.classes import SUBCLASSES, validate_classes
from astro_clusterclass.io import PHANGS_CLASS_CODES, parse_phangs_name, read_phangs

UVIS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
ACS_UVIS = ('F275W', 'F336W', 'F435W', 'F555W', 'F814W')
CODES = sorted(PHANGS_CLASS_CODES)  # 1-17 and 19


def release_table(n=40, *, filters=UVIS, seed=0, candidates=False, tot_err=True):
    """A table with the columns of a PHANGS-HST release catalogue, values known."""
    rng = np.random.default_rng(seed)
    t = Table()
    t['INDEX'] = np.arange(1, n + 1)
    t['ID_PHANGS_CLUSTER'] = np.where(np.arange(n) % 5 == 4, -999, np.arange(100, 100 + n))
    t['ID_PHANGS_CANDIDATE'] = np.arange(5000, 5000 + n)
    t['ID_PHANGS_ALLSOURCES'] = np.arange(90000, 90000 + n)
    t['PHANGS_X'] = rng.uniform(0, 4000, n)
    t['PHANGS_Y'] = np.sort(rng.uniform(0, 4000, n))
    t['PHANGS_RA'] = 64.97 + rng.uniform(-0.01, 0.01, n)
    t['PHANGS_DEC'] = -54.94 + rng.uniform(-0.01, 0.01, n)
    t['PHANGS_GALAXY'] = ['ngc1566'] * n
    t['PHANGS_DM'] = np.full(n, 31.24)
    t['PHANGS_DMPC'] = np.full(n, 17.69)
    for j, f in enumerate(filters):
        mag = rng.uniform(19, 26, n)
        mag[j::7] = -9999.0  # outside this band's footprint
        t[f'PHANGS_{f}_VEGA'] = mag
        t[f'PHANGS_{f}_VEGA_ERR'] = np.where(mag == -9999, -9999, rng.uniform(0.01, 0.3, n))
        flux = 10 ** (-0.4 * (np.where(mag == -9999, 20.0, mag) - 16.4))
        t[f'PHANGS_{f}_mJy'] = np.where(mag == -9999, -9999, flux)
        err = np.where(mag == -9999, -9999, 0.05 * flux)
        quirk = tot_err and f in ('F555W', 'F814W')
        t[f'PHANGS_{f}_mJy_TOT_ERR' if quirk else f'PHANGS_{f}_mJy_ERR'] = err
    t['PHANGS_NON_DETECTION_FLAG'] = rng.integers(0, 3, n)
    t['PHANGS_NO_COVERAGE_FLAG'] = np.zeros(n, dtype=int)
    t['PHANGS_CI'] = rng.uniform(1.2, 2.5, n)
    t['CC_CLASS'] = rng.choice(['ycl', 'map', 'ogcc', 'outside'], n)
    human = np.array([CODES[i % len(CODES)] for i in range(n)], dtype=float)
    human[-3:] = np.nan  # not inspected
    t['PHANGS_CLUSTER_CLASS_HUMAN'] = human
    t['PHANGS_CLUSTER_CLASS_ML_VGG'] = np.array([CODES[(i + 3) % len(CODES)] for i in range(n)])
    t['PHANGS_CLUSTER_CLASS_ML_VGG_QUAL'] = rng.choice([0.3, 0.5, 0.8, 1.0], n)
    if candidates:
        t['PHANGS_CLUSTER_CLASS_ML_VGG_CORR'] = t['PHANGS_CLUSTER_CLASS_ML_VGG']
    age = rng.uniform(1, 1e4, n)
    age[::6] = -999.0
    t['PHANGS_AGE_MINCHISQ'] = age
    t['PHANGS_AGE_MINCHISQ_ERR'] = np.where(age == -999, -999, 0.1 * age)
    t['PHANGS_MASS_MINCHISQ'] = np.where(age == -999, -999, rng.uniform(1e3, 1e6, n))
    t['PHANGS_EBV_MINCHISQ'] = np.where(age == -999, -999, rng.uniform(0, 1, n))
    t['PHANGS_REDUCEDCHISQ_MINCHISQ'] = rng.uniform(0, 5, n)
    t['NBHa_HIIreg'] = rng.integers(0, 2, n)  # a column the reader does not know
    return t


def release_name(instrument='uvis', target='ngc1566', kind='obs-human-cluster-class12'):
    return f'hlsp_phangs-cat_hst_{instrument}_{target}_multi_v1_{kind}.fits'


def write(tmp_path, table, name):
    path = tmp_path / name
    table.write(path)
    return path


def test_parse_release_names():
    for kind in ('obs', 'sed', 'obs-sed'):
        for who in ('human', 'machine'):
            for sample in ('cluster-class12', 'compact-association-class3'):
                info = parse_phangs_name(release_name('acs-uvis', 'ngc628c',
                                                      f'{kind}-{who}-{sample}'))
                assert info == {'instrument': 'acs-uvis', 'target': 'ngc628c', 'version': '1',
                                'kind': kind, 'classification': who, 'sample': sample}
    info = parse_phangs_name(release_name('uvis', 'ic5332', 'obs-sed-candidates'))
    assert info['sample'] == 'candidates' and info['classification'] == 'human+machine'
    assert parse_phangs_name('hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-human.fits') is None


@pytest.mark.parametrize('filters, instrument', [(UVIS, 'uvis'), (ACS_UVIS, 'acs-uvis')])
def test_columns_units_and_sentinels(tmp_path, filters, instrument):
    raw = release_table(filters=filters)
    path = write(tmp_path, raw, release_name(instrument))
    tbl = QTable.read(path)  # identified from the release name
    assert len(tbl) == len(raw)
    assert tbl.meta['file'] == path.name and tbl.meta['galaxy'] == 'ngc1566'
    assert tbl.meta['pixel_frame'] == 'PHANGS-HST ngc1566'
    # Ids, positions (0-based as released) and sky positions, in file order.
    np.testing.assert_array_equal(tbl['id'], raw['ID_PHANGS_CANDIDATE'])
    np.testing.assert_array_equal(tbl['running_index'], raw['INDEX'])
    assert tbl['id_cluster'].mask.tolist() == (raw['ID_PHANGS_CLUSTER'] == -999).tolist()
    np.testing.assert_array_equal(tbl['x'], raw['PHANGS_X'])
    np.testing.assert_array_equal(tbl['y'], raw['PHANGS_Y'])
    np.testing.assert_allclose(tbl['coord'].ra.deg, raw['PHANGS_RA'], rtol=0, atol=1e-12)
    np.testing.assert_allclose(tbl['coord'].dec.deg, raw['PHANGS_DEC'], rtol=0, atol=1e-12)
    assert tbl['coord'].frame.name == 'icrs'
    assert tbl['distance_modulus'].unit == u.mag and tbl['distance'].unit == u.Mpc
    # Every band slot, with ACS F435W in the F438W slot; -9999 masked.
    for slot, filt in zip(UVIS, filters):
        mag = tbl[f'mag_{slot}']
        sentinel = raw[f'PHANGS_{filt}_VEGA'] == -9999
        assert mag.unit == u.mag and tbl[f'flux_{slot}'].unit == u.mJy
        assert mag.mask.tolist() == sentinel.tolist() and sentinel.sum() > 0
        assert tbl[f'magerr_{slot}'].mask.tolist() == sentinel.tolist()
        assert tbl[f'fluxerr_{slot}'].mask.tolist() == sentinel.tolist()
        np.testing.assert_array_equal(mag.unmasked.value[~sentinel],
                                      raw[f'PHANGS_{filt}_VEGA'][~sentinel])
        assert filt in tbl.meta['bands'][slot]
    assert tbl.meta['bands']['F438W'] == ('ACS/F435W' if instrument == 'acs-uvis'
                                          else 'WFC3/F438W')
    # The F555W/F814W flux errors come from the _mJy_TOT_ERR columns.
    assert tbl.meta['original_names']['fluxerr_F555W'] == 'PHANGS_F555W_mJy_TOT_ERR'
    assert tbl.meta['original_names']['fluxerr_F275W'] == 'PHANGS_F275W_mJy_ERR'
    ok = ~tbl['fluxerr_F814W'].mask
    np.testing.assert_array_equal(tbl['fluxerr_F814W'].unmasked.value[ok],
                                  raw['PHANGS_F814W_mJy_TOT_ERR'][ok])
    # SED fits: -999 masked, ages in Myr; unknown columns keep their names.
    no_fit = raw['PHANGS_AGE_MINCHISQ'] == -999
    assert tbl['age'].unit == u.Myr and tbl['age'].mask.tolist() == no_fit.tolist()
    assert tbl['mass'].unit == u.solMass and tbl['mass'].mask.tolist() == no_fit.tolist()
    assert tbl.meta['sed'].startswith('minimum chi2')
    np.testing.assert_array_equal(tbl['NBHa_HIIreg'], raw['NBHa_HIIreg'])
    assert tbl['ci'].unit == u.mag
    assert tbl['cc_class'].tolist() == raw['CC_CLASS'].tolist()
    # The original name of every renamed column is recorded and exists.
    for new, old in tbl.meta['original_names'].items():
        assert new in tbl.colnames
        for name in old.split(' (')[0].split(', '):
            assert name in raw.colnames


def test_every_class_code(tmp_path):
    raw = release_table(n=len(CODES) + 3)
    tbl = read_phangs(write(tmp_path, raw, release_name()))
    human = tbl['class_human']
    for row, code in enumerate(CODES):
        klass, subclass, _ = PHANGS_CLASS_CODES[code]
        assert (human[row], tbl['subclass_human'][row], tbl['class_human_code'][row]) == \
            (klass, subclass, code)
    # 1-3 are the paper's classes; every artefact code is class 4 with a '4.x' subclass
    # of the package's scheme ('' only for the uncategorised artefact, 17).
    assert [PHANGS_CLASS_CODES[c][0] for c in (1, 2, 3)] == [1, 2, 3]
    for code in CODES[3:]:
        klass, subclass, _ = PHANGS_CLASS_CODES[code]
        assert klass == 4 and (subclass in SUBCLASSES or (code == 17 and subclass == ''))
    assert PHANGS_CLASS_CODES[5][1] == '4.2' and PHANGS_CLASS_CODES[13][1] == '4.3'
    # Not inspected (NaN): masked class and code, no subclass.
    assert human.mask[-3:].tolist() == [True] * 3 and tbl['class_human_code'].mask[-1]
    assert tbl['subclass_human'][-1] == ''
    validate_classes(human, allow_zero=False)  # the package's scheme
    assert tbl.meta['class_column'] == 'class_human'
    assert tbl['class_ml_quality'].tolist() == raw['PHANGS_CLUSTER_CLASS_ML_VGG_QUAL'].tolist()


def test_masked_classes_and_unknown_codes(tmp_path):
    raw = release_table(n=6)
    human = np.ma.MaskedArray([1, 2, 4, 18, 0, 3], mask=[0, 0, 0, 0, 0, 1])
    raw['PHANGS_CLUSTER_CLASS_HUMAN'] = human.astype(np.int16)
    path = tmp_path / release_name()
    raw.write(path)  # astropy writes TNULL for the masked integer
    assert np.ma.is_masked(Table.read(path, format='fits')['PHANGS_CLUSTER_CLASS_HUMAN'][5])
    with pytest.warns(AstropyUserWarning, match=r'codes outside the PHANGS-HST scheme '
                                                r'\(0: 1 rows, 18: 1 rows\)'):
        tbl = read_phangs(path)
    assert tbl['class_human'].mask.tolist() == [False, False, False, True, True, True]
    assert tbl['class_human_code'].tolist()[:5] == [1, 2, 4, 18, 0]  # codes kept
    assert tbl['class_human_code'].mask.tolist()[5]


def test_machine_and_candidate_tables(tmp_path):
    machine = read_phangs(write(tmp_path, release_table(),
                                release_name(kind='obs-machine-cluster-class12')))
    assert machine.meta['class_column'] == 'class_ml'
    assert machine.meta['release']['classification'] == 'machine'
    cands = read_phangs(write(tmp_path, release_table(candidates=True),
                              release_name(kind='obs-sed-candidates')))
    assert {'class_ml_corr', 'subclass_ml_corr', 'class_ml_corr_code'} <= set(cands.colnames)
    assert cands.meta['release']['sample'] == 'candidates'


def test_identified_by_columns_and_raw_still_readable(tmp_path):
    raw = release_table()
    path = write(tmp_path, raw, 'my_copy.fits')
    tbl = QTable.read(path)  # not a release name: identified from the columns
    assert tbl.meta['file'] == 'my_copy.fits' and 'class_human' in tbl.colnames
    assert tbl.meta['galaxy'] == 'ngc1566'  # from PHANGS_GALAXY
    plain = QTable.read(path, format='fits')
    assert plain.colnames == raw.colnames
    # Other FITS tables are left to astropy.
    other = write(tmp_path, Table({'a': [1, 2]}), 'other.fits')
    assert QTable.read(other).colnames == ['a']


def test_sed_families(tmp_path):
    raw = release_table(n=5)
    raw['SEDfix_age'] = [1.0, 10.0, -999.0, 300.0, 5000.0]
    raw['SEDfix_age_limlo'] = [0.5, 5, -999, 200, 4000]
    raw['SEDfix_age_limhi'] = [2.0, 20, -999, 400, 6000]
    raw['SEDfix_mass'] = [1e3, 1e4, -999, 1e5, 1e6]
    tbl = read_phangs(write(tmp_path, raw, release_name(kind='sed-human-cluster-class12')))
    assert tbl.meta['sed'].startswith('SEDfix')
    assert tbl['age'].mask.tolist() == [False, False, True, False, False]
    assert tbl['age_max'].unmasked.to_value(u.Myr)[3] == 400
    assert 'PHANGS_AGE_MINCHISQ' in tbl.colnames  # the other family keeps its names
    assert tbl.meta['original_names']['age'] == 'SEDfix_age'


def test_not_a_phangs_catalogue(tmp_path):
    path = write(tmp_path, Table({'PHANGS_X': [1.0], 'PHANGS_Y': [2.0]}), release_name())
    with pytest.raises(ValueError, match=r"is not a PHANGS-HST catalogue: it lacks the columns "
                                         r"\['PHANGS_RA', 'PHANGS_DEC'\]"):
        read_phangs(path)
    text = tmp_path / 'not_fits.fits'
    text.write_text('hello')
    with pytest.raises(ValueError, match='cannot be read as a FITS table'):
        read_phangs(text)
    raw = release_table(n=3)
    raw['PHANGS_CLUSTER_CLASS_HUMAN'] = [1.0, 2.5, 3.0]
    with pytest.raises(ValueError, match='non-integer class codes'):
        read_phangs(write(tmp_path, raw, 'half.fits'))


def test_rows_never_lost_or_reordered(tmp_path):
    raw = release_table(n=200, seed=3)
    rng = np.random.default_rng(1)
    raw = raw[rng.permutation(len(raw))]
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        tbl = read_phangs(write(tmp_path, raw, release_name()))
    np.testing.assert_array_equal(tbl['running_index'], raw['INDEX'])
    np.testing.assert_array_equal(tbl['x'], raw['PHANGS_X'])


def test_fits_file_object(tmp_path):
    path = write(tmp_path, release_table(n=4), release_name())
    with open(path, 'rb') as f:
        tbl = QTable.read(f, format='phangs')
    assert len(tbl) == 4 and tbl.meta['file'] == path.name
    hdul = fits.open(path)
    assert hdul[1].columns.names[0] == 'INDEX'
    hdul.close()


def test_science_functions_take_the_release_units(tmp_path):
    from astro_clusterclass.science import mass_function

    raw = release_table(n=600, seed=4)
    rng = np.random.default_rng(4)
    raw['PHANGS_CLUSTER_CLASS_HUMAN'] = rng.choice([1.0, 2.0], len(raw))
    raw['PHANGS_AGE_MINCHISQ'] = 10 ** rng.uniform(0.1, 2.9, len(raw))  # Myr: 10^6.1-10^8.9 yr
    raw['PHANGS_MASS_MINCHISQ'] = 1e4 * (1 - rng.uniform(size=len(raw))) ** (-1 / 1.0)
    tbl = read_phangs(write(tmp_path, raw, release_name()))
    mf = mass_function(tbl, class_column='class_human', mass_min=1e4, n_bins=5)
    # dN/dM ∝ M^-2 was drawn; ages in Myr are converted to the yr of the age ranges.
    in_range = (tbl['age'] >= 1 * u.Myr) & (tbl['age'] < 10 * u.Myr)
    assert mf['n'][0] == int(np.sum(in_range.filled(False)))
    assert np.all(np.abs(mf['beta'] + 2) < 0.5)

"""The LEGUS catalogue reader, checked against the real catalogues."""

import subprocess

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table
from astropy.utils.exceptions import AstropyUserWarning

from astro_clusterclass import io
from astro_clusterclass.conftest import legus_file, shared_data_path
from astro_clusterclass.io import LegusLayoutError, read_legus

# Files whose trailing columns cannot be identified with certainty, with a
# class column chosen by looking at them (see the LEGUS data README).
AMBIGUOUS = {
    'ngc3351': 35, 'ngc4242': 37, 'ngc45': 37, 'ngc4449': 36, 'ngc5474': 34,
    'eso486-g021': 34, 'ngc1313-e': 36, 'ngc1313-w': 36,
}


def _all_files():
    folder = shared_data_path('legus_tab')
    files = sorted(folder.glob('hlsp_legus_*.tab'))
    assert len(files) == 39
    return files


def _line_count(path):
    # Independent of numpy: count lines the way `wc -l` does.
    return int(subprocess.run(['wc', '-l', str(path)], capture_output=True,
                              text=True, check=True).stdout.split()[0])


def _galaxy(path):
    return path.name.split('_multiband')[0].split('_')[-1]


def test_every_file_read_or_refused_then_read():
    read, refused = [], []
    for path in _all_files():
        galaxy = _galaxy(path)
        if galaxy in AMBIGUOUS:
            with pytest.raises(LegusLayoutError, match='class_column='):
                QTable.read(path, format='legus')
            tbl = QTable.read(path, format='legus', class_column=AMBIGUOUS[galaxy])
            refused.append(galaxy)
        else:
            tbl = QTable.read(path, format='legus')
            read.append(galaxy)
        assert len(tbl) == _line_count(path), galaxy
        assert tbl.meta['class_column'] == 'class'
        assert set(np.unique(tbl['class'])) <= {0, 1, 2, 3, 4}
        assert isinstance(tbl['coord'], SkyCoord)
        assert tbl['mag_F555W'].unit == u.mag
        assert tbl['age'].unit == u.yr
        assert tbl['mass'].unit == u.solMass
    assert len(read) == 31 and sorted(refused) == sorted(AMBIGUOUS)


def test_ngc1566_class_counts_and_two_classifications():
    tbl = QTable.read(legus_file('ngc1566'), format='legus')
    values, counts = np.unique(tbl['class'], return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {0: 301, 1: 477, 2: 404,
                                                           3: 692, 4: 878}
    assert tbl.meta['layout'] == 'legus-ngc1566'
    # Columns 36 and 37 of the file, read independently with numpy.
    raw = np.loadtxt(legus_file('ngc1566'))
    np.testing.assert_array_equal(tbl['class_human'], raw[:, 35])
    np.testing.assert_array_equal(tbl['class_ml'], raw[:, 36])
    assert 'three' in tbl.meta['class_columns']['class_human']


def test_positions_are_zero_based_and_match_file():
    path = legus_file('ngc628-c')
    raw = np.loadtxt(path)
    tbl = read_legus(path)
    np.testing.assert_allclose(tbl['x'], raw[:, 1] - 1)
    np.testing.assert_allclose(tbl['y'], raw[:, 2] - 1)
    np.testing.assert_allclose(tbl['coord'].ra.deg, raw[:, 3])
    np.testing.assert_allclose(tbl['coord'].dec.deg, raw[:, 4])
    assert '0-based' in tbl.meta['pixel_origin']


def test_sentinel_magnitudes_are_masked():
    path = legus_file('ngc1313-e')
    raw = np.loadtxt(path)
    tbl = read_legus(path, class_column=36)
    # NGC 1313 carries a second x/y pair before RA/Dec: F275W is column 8.
    f275 = raw[:, 7]
    sentinel = np.isin(f275, [99.999, 66.666, 44.444])
    assert sentinel.sum() > 100
    np.testing.assert_array_equal(tbl['mag_F275W'].mask, sentinel)
    np.testing.assert_allclose(tbl['mag_F275W'].unmasked.value[~sentinel], f275[~sentinel])
    assert 'x_2' in tbl.colnames
    np.testing.assert_allclose(tbl['coord'].ra.deg, raw[:, 5])


def test_missing_sed_fit_is_masked():
    raw = np.loadtxt(legus_file('ngc628-c'))
    tbl = read_legus(legus_file('ngc628-c'))
    no_fit = (raw[:, 16] == 0) & (raw[:, 19] == 0)
    np.testing.assert_array_equal(tbl['age'].mask, no_fit)
    np.testing.assert_allclose(tbl['mass'].unmasked.value, raw[:, 19])


def test_layout_with_class_mean_and_flag():
    tbl = read_legus(legus_file('ic4247'))
    assert tbl.meta['layout'] == 'legus-36'
    assert {'class', 'class_mean', 'flag'} <= set(tbl.colnames)
    assert tbl.meta['bands']['F438W'] == 'ACS/F435W'


def test_table_read_also_works():
    tbl = Table.read(legus_file('ngc4248'), format='legus')
    assert tbl.meta['layout'] == 'legus-34'


def test_unknown_layout_error_lists_candidates():
    with pytest.raises(LegusLayoutError) as info:
        read_legus(legus_file('ngc3351'))
    text = str(info.value)
    for column in ('column 35', 'column 36', 'column 37'):
        assert column in text
    assert "class_column=" in text


def test_user_mapping_of_class_columns():
    tbl = read_legus(legus_file('ngc3351'), class_column={'class': 35, 'class_b': 37})
    raw = np.loadtxt(legus_file('ngc3351'))
    np.testing.assert_array_equal(tbl['class'], raw[:, 34])
    np.testing.assert_array_equal(tbl['class_b'], raw[:, 36])
    assert 'col36' in tbl.colnames


@pytest.mark.parametrize('value, match', [
    (5, 'not a trailing column'),
    (99, 'not a trailing column'),
    ('35', 'column number'),
])
def test_bad_class_column(value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        read_legus(legus_file('ngc3351'), class_column=value)


def test_class_column_with_values_outside_scheme():
    # Column 34 of NGC 4449 holds values up to 5.
    with pytest.raises(ValueError, match='outside 0-4'):
        read_legus(legus_file('ngc4449'), class_column=34)


@pytest.mark.parametrize('name, content, read, match', [
    ('hlsp_legus_fake_multiband.tab', 'id name\n1 cluster\n', read_legus, 'not a LEGUS catalogue'),
    ('narrow.tab', '1 2 3\n4 5 6\n', lambda path: QTable.read(path, format='legus'),
     '3 columns'),
    ('image.tab', bytes(range(256)), read_legus, 'not a LEGUS catalogue'),
    ('empty.tab', '', read_legus, 'no rows'),
])
def test_file_that_is_not_a_catalog(tmp_path, name, content, read, match):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read(path)


def test_format_is_identified_from_file_name():
    tbl = QTable.read(legus_file('ngc1433'))
    assert tbl.meta['layout'] == 'legus-35'


# ----------------------------------------------------------------------------
# The .readme beside a catalogue

def _readme_copy(tmp_path, galaxy='ngc628-c'):
    """The NGC 628-C catalogue and its readme side by side, as MAST serves them."""
    import shutil
    tab = legus_file(galaxy)
    readmes = sorted(shared_data_path('legus_readme').glob(f'*_{galaxy}_*.readme'))
    if len(readmes) != 1:
        pytest.skip(f'no LEGUS readme of {galaxy} in the shared data')
    shutil.copy(tab, tmp_path / tab.name)
    shutil.copy(readmes[0], tmp_path / (tab.stem + '.readme'))
    return tmp_path / tab.name, tmp_path / (tab.stem + '.readme')


def _synthetic_readme(path, n_columns, classes):
    """A readme in the LEGUS wording: the 33 common columns, then ``classes`` (number → word)."""
    filters = ['WFC3/F275W', 'WFC3/F336W', 'ACS/F435W', 'ACS/F606W', 'ACS/F814W']
    lines = ['# Distance modulus used 31.20 mag (17.4 Mpc) from somewhere',
             'Order of the columns', '1. source id']
    lines += [f'{6 + 2 * i}. final total mag in {f}' for i, f in enumerate(filters)]
    for number in range(34, n_columns + 1):
        word = classes.get(number)
        lines.append(f'{number}. Final assigned class of the source after visual inspection, '
                     f'applying the {word}.' if word else f'{number}. something else')
    path.write_text('\n'.join(lines) + '\n')
    return path


def test_readme_beside_the_catalog_names_columns_filters_and_distance(tmp_path):
    tab, readme = _readme_copy(tmp_path)
    info = io.read_legus_readme(readme)
    assert info['class_columns'] == {'class': 34, 'class_mean': 35}
    assert info['distance_modulus'] == 29.98 and max(info['columns']) == 35
    tbl = read_legus(tab)                          # readme='auto' finds it
    plain = read_legus(legus_file('ngc628-c'))     # the shared folder has no readme beside it
    assert tbl.meta['readme'] == readme.name and 'readme' not in plain.meta
    assert tbl.meta['layout'] == 'legus-35-readme' and plain.meta['layout'] == 'legus-35'
    # The readme agrees with the reader's own identification of the columns ...
    np.testing.assert_array_equal(tbl['class'], plain['class'])
    np.testing.assert_array_equal(tbl['class_mean'], plain['class_mean'])
    raw = np.loadtxt(tab)
    np.testing.assert_array_equal(tbl['class'], raw[:, 33])
    # ... and says what the file name cannot: which V filter was used.
    assert tbl.meta['bands']['F555W'] == 'ACS/F555W'
    assert 'not recorded' in plain.meta['bands']['F555W']
    assert tbl.meta['distance_modulus'] == 29.98
    assert read_legus(tab, readme=None).meta['layout'] == 'legus-35'


def test_readme_resolves_an_ambiguous_layout(tmp_path):
    import shutil
    tab = tmp_path / legus_file('ngc3351').name
    shutil.copy(legus_file('ngc3351'), tab)
    n = np.loadtxt(tab).shape[1]
    with pytest.raises(LegusLayoutError):
        read_legus(tab)
    _synthetic_readme(tab.with_suffix('.readme'), n, {35: 'mode'})
    tbl = read_legus(tab)
    np.testing.assert_array_equal(tbl['class'], np.loadtxt(tab)[:, 34])
    assert tbl.meta['bands']['F555W'] == 'ACS/F606W' and tbl.meta['distance_modulus'] == 31.2
    # A readme that names a column of other values is refused, naming the readme.
    _synthetic_readme(tab.with_suffix('.readme'), n, {34: 'mode'})
    raw = np.loadtxt(tab)
    if not set(np.unique(raw[:, 33])) <= {0, 1, 2, 3, 4}:
        with pytest.raises(ValueError, match='the readme .* names column 34'):
            read_legus(tab)


def test_readme_of_another_catalog(tmp_path):
    tab, readme = _readme_copy(tmp_path)
    _synthetic_readme(readme, 34, {34: 'mode'})    # describes 34 columns; the file has 35
    with pytest.warns(AstropyUserWarning, match='describes 34 columns .* is ignored'):
        tbl = read_legus(tab)
    assert tbl.meta['layout'] == 'legus-35' and 'readme' not in tbl.meta
    with pytest.raises(ValueError, match='belongs to another catalogue'):
        read_legus(tab, readme=readme)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        read_legus(tab, readme=tmp_path / 'missing.readme')
    (tmp_path / 'empty.readme').write_text('# nothing here\n')
    with pytest.raises(ValueError, match='no numbered column descriptions'):
        io.read_legus_readme(tmp_path / 'empty.readme')

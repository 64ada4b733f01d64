"""The BC03 track reader: the shipped track, the PHANGS-HST files and the errors."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable, Table
from astro_clusterclass.conftest import shared_data_path
from astro_clusterclass.datasets import bc03_track
from astro_clusterclass.io import read_bc03_track


def test_shipped_bc03_track_is_the_default():
    track = read_bc03_track()
    assert len(track) == 1049
    assert track.meta['file'] == 'bc03_solar_hst_vega.ecsv'
    assert track.meta['magnitude_system'] == 'Vega'
    assert track['age'].unit == u.yr
    assert np.all(np.diff(track['age']) > 0)
    same = bc03_track()
    assert same.colnames == track.colnames == ['age', 'ub', 'vi', 'bv', 'nuvb', 'nuvu']
    for name in track.colnames:
        np.testing.assert_array_equal(same[name], track[name])
    # Registered with astropy: the same reader, the shipped track without a file.
    registered = QTable.read(format='bc03')
    np.testing.assert_array_equal(registered['ub'], track['ub'])
    with pytest.raises(ValueError, match="only the solar track"):
        read_bc03_track(metallicity='sol5')


def test_bc03_formats_give_one_track():
    csv = shared_data_path('bc03_phangs', 'bc03_solar_hst_vega_colours.csv')
    from_csv = QTable.read(csv, format='bc03')
    assert from_csv.meta['file'] == csv.name
    assert Table.read(csv, format='bc03').colnames == from_csv.colnames
    assert from_csv['age'].unit == u.Myr
    folder = read_bc03_track(csv.parent)
    assert folder.meta['file'] == 'bc03_phangs'
    shipped = read_bc03_track()
    np.testing.assert_allclose(shipped['age'].to_value(u.Myr), folder['age'].to_value(u.Myr))
    for color in ('ub', 'vi', 'bv', 'nuvb', 'nuvu'):
        np.testing.assert_allclose(shipped[color], folder[color], atol=6e-6 * u.mag)
        np.testing.assert_allclose(from_csv[color], folder[color], atol=1e-4 * u.mag)


def _bad_csv(tmp_path):
    bad = tmp_path / 'bad.csv'
    bad.write_text('age_myr,bv\n1,0.1\n2,0.2\n')
    return bad


@pytest.mark.parametrize('path, kwargs, error, match', [
    (lambda tmp_path: 3, {}, TypeError, 'path must be a file or folder name'),
    (lambda tmp_path: tmp_path / 'missing.csv', {}, FileNotFoundError, 'does not exist'),
    (_bad_csv, {}, ValueError, r"lacks the colour\(s\) \['ub', 'vi'\]"),
    (lambda tmp_path: tmp_path, {}, FileNotFoundError, 'not a folder of'),
    (lambda tmp_path: tmp_path, {'metallicity': 'sol2'}, ValueError, 'metallicity'),
])
def test_read_bc03_track_errors(tmp_path, path, kwargs, error, match):
    with pytest.raises(error, match=match):
        read_bc03_track(path(tmp_path), **kwargs)

"""The readers and writers of astro_clusterclass.io and the output policy of the writers."""

import os

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable, Table

from astro_clusterclass import io
from astro_clusterclass.cutouts import CutoutFlag
from astro_clusterclass.datasets import bc03_track
from astro_clusterclass.ds9 import write_ds9_regions
from astro_clusterclass.io import (read_bc03_track, read_phangs_zeropoints, write_cutout_fits,
                                   write_table)
from astro_clusterclass.photometry import PhotFlag, SelectionFlag
from astro_clusterclass.tables import pixel_positions

from .conftest import shared_data_path


def test_io_exports_every_reader_and_writer():
    for name in ('read_legus', 'LegusLayoutError', 'LEGUS_SENTINELS', 'read_phangs_zeropoints',
                 'read_bc03_track', 'write_cutout_fits', 'read_cutout_fits', 'write_table',
                 'fits_safe_meta'):
        assert name in io.__all__
        assert hasattr(io, name)


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
    for colour in ('ub', 'vi', 'bv', 'nuvb', 'nuvu'):
        np.testing.assert_allclose(shipped[colour], folder[colour], atol=6e-6 * u.mag)
        np.testing.assert_allclose(from_csv[colour], folder[colour], atol=1e-4 * u.mag)


def test_read_bc03_track_type_error():
    with pytest.raises(TypeError, match='path must be a file or folder name'):
        read_bc03_track(3)


def test_phangs_zeropoints_registered():
    path = shared_data_path('hst_zeropoints_phangs', 'header_info_ngc1566_prime.txt')
    direct = read_phangs_zeropoints(path)
    registered = QTable.read(path, format='phangs_zeropoints')
    assert direct['band'].tolist() == ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']
    assert registered.meta['file'] == direct.meta['file'] == str(path)
    np.testing.assert_array_equal(registered['zp_vega'], direct['zp_vega'])


def test_phangs_zeropoints_refuses_other_tables(tmp_path):
    path = tmp_path / 'other.txt'
    path.write_text('#filter photflam\nF555W 1e-19\n')
    with pytest.raises(ValueError, match=r"not a PHANGS-HST header_info file, missing columns "
                                         r"\['photplam', 'zpab', 'zpvega'\]"):
        read_phangs_zeropoints(path)


def test_write_table_output_policy(tmp_path):
    tbl = QTable({'id': [1, 2]}, meta={'file': 'input.ecsv', 'nested': {'a': [1, 2]}})
    path = tmp_path / 'out.ecsv'
    write_table(tbl, path)
    assert QTable.read(path).meta == tbl.meta
    with pytest.raises(FileExistsError, match=r"path: '.*out.ecsv' exists; pass overwrite=True"):
        write_table(tbl[:1], path)
    assert len(QTable.read(path)) == 2  # untouched
    write_table(tbl[:1], path, overwrite=True)
    assert len(QTable.read(path)) == 1
    assert sorted(os.listdir(tmp_path)) == ['out.ecsv']  # no temporary file left


def test_write_ds9_regions_output_policy(tmp_path):
    tbl = QTable({'x': [10.0], 'y': [5.0], 'class': [1]})
    path = tmp_path / 'c.reg'
    write_ds9_regions(tbl, path)
    with pytest.raises(FileExistsError, match='exists; pass overwrite=True'):
        write_ds9_regions(tbl, path)
    write_ds9_regions(tbl, path, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ['c.reg']


def test_write_cutout_fits_checks_every_file_first(small_field, tmp_path):
    from astro_clusterclass import make_cutouts
    stamps = make_cutouts(small_field, ([20.0, 30.0], [20.0, 30.0]), size=5)
    (tmp_path / 'cutout_1.fits').write_text('not mine')
    with pytest.raises(FileExistsError, match='cutout_1.fits'):
        write_cutout_fits(stamps, tmp_path)
    assert sorted(os.listdir(tmp_path)) == ['cutout_1.fits']  # nothing written
    paths = write_cutout_fits(stamps, tmp_path, overwrite=True)
    assert [os.path.basename(p) for p in paths] == ['cutout_0.fits', 'cutout_1.fits']
    assert sorted(os.listdir(tmp_path)) == ['cutout_0.fits', 'cutout_1.fits']


@pytest.mark.parametrize('flag, values', [
    (CutoutFlag, {'NONE': 0, 'EDGE': 1, 'OFF_IMAGE': 2, 'NONFINITE': 4, 'MISSING_BAND': 8}),
    (PhotFlag, {'NONE': 0, 'EDGE': 1, 'OFF_IMAGE': 2, 'NONFINITE': 4, 'NONPOSITIVE': 8}),
    (SelectionFlag, {'NONE': 0, 'CI_LOW': 1, 'CI_HIGH': 2, 'FAINT': 4, 'FEW_BANDS': 8,
                     'MCI': 16}),
])
def test_flags_share_one_mechanism(flag, values):
    assert {name: int(member) for name, member in flag.__members__.items()} == values
    descriptions = flag.descriptions()
    assert sorted(descriptions) == sorted(n for n, v in values.items() if v)
    assert all(text.endswith('.') for text in descriptions.values())
    assert flag['NONE'].description
    combined = flag(values[list(values)[1]] | values[list(values)[2]])
    assert flag.describe(combined) == '|'.join(list(values)[1:3])
    assert flag.decode(np.uint8(0)) == []
    assert flag.describe(0) == 'NONE'


def test_pixel_positions_names_the_missing_column():
    with pytest.raises(ValueError, match=r"columns: 'ypix' is not a column; the columns are "
                                         r"\['xpix', 'y'\]"):
        pixel_positions(QTable({'xpix': [1.0], 'y': [2.0]}), columns=('xpix', 'ypix'))

"""The readers and writers of astro_clusterclass.io and the output policy of the writers."""

import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import QTable

from astro_clusterclass import io
from astro_clusterclass.conftest import shared_data_path
from astro_clusterclass.io import read_phangs_zeropoints, write_cutout_fits, write_table


def test_io_exports_every_reader_and_writer():
    for name in ('read_legus', 'LegusLayoutError', 'LEGUS_SENTINELS', 'read_phangs_zeropoints',
                 'read_bc03_track', 'write_cutout_fits', 'read_cutout_fits', 'write_table',
                 'fits_safe_meta'):
        assert name in io.__all__
        assert hasattr(io, name)


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


def test_table_readers_do_not_import_the_cutting_code():
    # Reading and writing tables (the regions and compare commands) must not pay for
    # the cutting code; the stamp files' functions load on first use.
    probe = ("import sys, astro_clusterclass.io as io; "
             "before = 'astro_clusterclass.cutouts' in sys.modules; "
             "f = io.read_cutout_fits; "
             "print(before, 'astro_clusterclass.cutouts' in sys.modules, f.__module__, "
             "sorted(set(io.__all__) - set(dir(io))))")
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ['False', 'True', 'astro_clusterclass.io.cutout_fits', '[]']

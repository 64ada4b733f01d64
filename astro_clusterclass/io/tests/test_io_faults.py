"""
Fault injection on the readers of io/: LEGUS text catalogues and per-candidate cutout files.

LEGUS catalogues saved by other tools (a byte-order mark, Windows or old
Mac line endings, UTF-16) read the same as the original; a catalogue cut
in a line, a binary file and a FITS table that carries a LEGUS name end in
a clear error or are read as what they are. Cutout files that are cut,
flipped or not FITS raise an error naming the file.
"""

import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable, Table

from astro_clusterclass import load_images, make_cutouts
from astro_clusterclass.conftest import legus_file
from astro_clusterclass.cutouts import CutoutFlag
from astro_clusterclass.io import read_cutout_fits, read_legus, write_cutout_fits
from astro_clusterclass.io.legus import _identify

BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')


@pytest.fixture(scope='module')
def original():
    """A real LEGUS catalogue (shared data), its bytes and its table."""
    path = legus_file('ngc1433')
    return path, path.read_bytes(), QTable.read(path, format='legus')


def _same(a, b):
    assert a.colnames == b.colnames and len(a) == len(b)
    for name in ('id', 'x', 'y', 'class', 'n_filters'):
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(np.ma.filled(a['mag_F555W'].value, -1),
                                  np.ma.filled(b['mag_F555W'].value, -1))
    assert a.meta['layout'] == b.meta['layout']


@pytest.mark.parametrize('encoding', ['utf-8 BOM', 'CRLF', 'utf-8 BOM + CRLF', 'CR only',
                                      'utf-16 BOM', 'utf-16-be BOM + CRLF'])
def test_catalogue_saved_by_other_tools_reads_the_same(tmp_path, original, encoding):
    path, raw, reference = original
    text = raw.decode('ascii')
    if 'CRLF' in encoding:
        text = text.replace('\n', '\r\n')
    if encoding == 'CR only':
        text = text.replace('\n', '\r')
    if encoding.startswith('utf-16-be'):
        data = '\ufeff'.encode('utf-16-be') + text.encode('utf-16-be')
    elif encoding.startswith('utf-16'):
        data = '\ufeff'.encode('utf-16-le') + text.encode('utf-16-le')
    elif 'BOM' in encoding:
        data = b'\xef\xbb\xbf' + text.encode('utf-8')
    else:
        data = text.encode('ascii')
    copy = tmp_path / path.name
    copy.write_bytes(data)
    _same(QTable.read(copy), reference)                 # format identified, by name and content
    _same(read_legus(copy), reference)
    with open(copy, 'rb') as fh:                          # from an open file, as the registry does
        _same(read_legus(fh), reference)


def test_catalogue_cut_inside_a_line(tmp_path, original):
    path, raw, _ = original
    copy = tmp_path / path.name
    copy.write_bytes(raw[:len(raw) // 2])   # the last line loses its trailing columns
    with pytest.raises(ValueError, match=rf'{copy.name} is not a LEGUS catalogue: .*'
                                         r'(columns|row)'):
        read_legus(copy)


def test_binary_file_with_a_legus_name(tmp_path):
    copy = tmp_path / 'hlsp_legus_hst_wfc3_ngc0000_multiband_v1.tab'
    copy.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match='not a LEGUS catalogue: it is not a text file'):
        read_legus(copy)
    assert not _identify('read', str(copy), None)


def test_fits_table_with_a_legus_name_is_read_as_fits(tmp_path):
    path = tmp_path / 'hlsp_legus_hst_wfc3_ngc0000_multiband_v1.tab'
    Table({'a': [1, 2, 3]}).write(path, format='fits')
    with open(path, 'rb') as fh:
        assert not _identify('read', str(path), fh)
        assert fh.tell() == 0   # the identifier leaves the file where it was
    # Format not given: only FITS claims it, so it is read (no "Format is ambiguous").
    assert Table.read(path)['a'].tolist() == [1, 2, 3]


def test_legus_content_under_another_name_needs_the_format(tmp_path, original):
    path, raw, reference = original
    copy = tmp_path / 'ngc1433_clusters.txt'
    shutil.copy(path, copy)
    assert not _identify('read', str(copy), None)   # the name is part of the identity
    _same(QTable.read(copy, format='legus'), reference)


# ----------------------------------------------------------------------------
# Per-candidate cutout files
# ----------------------------------------------------------------------------

@pytest.fixture
def cutout_files(tmp_path):
    rng = np.random.default_rng(0)
    images = load_images({band: rng.normal(size=(60, 70)).astype(np.float32)
                          for band in BANDS})
    stamps = make_cutouts(images, ([30.0, np.nan, 1e20], [20.0, 10.0, 5.0]), size=9)
    return stamps, write_cutout_fits(stamps, tmp_path / 'stamps')


def test_undefined_positions_round_trip(cutout_files):
    stamps, paths = cutout_files
    back = read_cutout_fits(paths)
    assert np.isnan(back.x[1]) and back.x[2] == 1e20
    np.testing.assert_array_equal(back.flags, stamps.flags)
    assert back.flags[1] & CutoutFlag.OFF_IMAGE and back.flags[2] & CutoutFlag.OFF_IMAGE
    np.testing.assert_array_equal(back.data, stamps.data)


@pytest.mark.parametrize('damage, match', [
    ('flipped pixel bit', r'HDU \d \(F\d+W\) fails its DATASUM check'),
    ('flipped header bit', r'HDU 0 \(PRIMARY\) fails its CHECKSUM check'),
    ('cut in the pixels', 'not a readable FITS file'),
    ('cut in a header', 'not a readable FITS file|band F\\d+W is missing'),
    ('empty', 'not a readable FITS file'),
    ('text', 'not a readable FITS file'),
])
def test_damaged_cutout_file_is_named(cutout_files, damage, match):
    _, paths = cutout_files
    path = paths[0]
    with open(path, 'rb') as fh:
        raw = bytearray(fh.read())
    if damage == 'flipped pixel bit':
        with fits.open(path) as hdul:
            raw[hdul[-1].fileinfo()['datLoc'] + 100] ^= 0x20
    elif damage == 'flipped header bit':
        raw[raw.index(b'candidate identifier') + 2] ^= 0x01
    elif damage == 'cut in the pixels':
        raw = raw[:len(raw) - 1000]
    elif damage == 'cut in a header':
        raw = raw[:2880 * 3 + 400]
    elif damage == 'empty':
        raw = b''
    else:
        raw = b'not FITS\n' * 400
    with open(path, 'wb') as fh:
        fh.write(bytes(raw))
    with pytest.raises(ValueError, match=match) as exc:
        read_cutout_fits(paths)
    assert str(exc.value).startswith(str(path))
    assert '\n' not in str(exc.value) or damage in ('cut in the pixels', 'empty', 'text')


def test_missing_cutout_file(cutout_files):
    _, paths = cutout_files
    os.remove(paths[1])
    with pytest.raises(FileNotFoundError, match=rf"paths: '{paths[1]}' does not exist"):
        read_cutout_fits(paths)

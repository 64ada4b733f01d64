"""
Catalogues by galaxy name through astropy's download cache.

Offline, the tests seed a temporary cache with files they write, under the
archive URLs, and the functions take their real path (astropy's
``download_file(cache=True)``); the downloads themselves are
``remote_data`` tests.
"""

import io
import tarfile

import numpy as np
import pytest
from astropy.config import paths
from astropy.table import QTable
from astropy.utils import data as astropy_data

from astro_clusterclass.io import (LEGUS_CATALOGS, PHANGS_CATALOG_KINDS, cached_url_name,
                                   download_legus_catalog, download_phangs_catalog,
                                   legus_catalog_url, phangs_bundle_url, read_legus_catalog,
                                   read_phangs_catalog)
from astro_clusterclass.io.tests.test_phangs import release_name, release_table


@pytest.fixture
def cache(tmp_path):
    """An empty astropy download cache for the test."""
    folder = tmp_path / 'cache'
    folder.mkdir()
    with paths.set_temp_cache(folder):
        yield folder


def legus_rows(n=20, seed=0):
    """Rows of a 35-column LEGUS catalogue (class mode and mean last)."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, 35))
    rows[:, 0] = np.arange(1, n + 1)
    rows[:, 1:3] = rng.uniform(1, 4000, (n, 2))
    rows[:, 3], rows[:, 4] = 64.97 + rng.uniform(-0.01, 0.01, n), -54.9 + rng.uniform(0, .01, n)
    rows[:, 5:15] = rng.uniform(19, 25, (n, 10))
    rows[:, 15] = rng.uniform(1.4, 2.5, n)
    rows[:, 16:25] = rng.uniform(1, 10, (n, 9))
    rows[:, 32] = 5
    rows[:, 33] = rng.integers(0, 5, n)
    rows[:, 34] = np.where(rows[:, 33] > 0, rows[:, 33], 0)
    return rows


def seed_legus(field, rows, tmp_path):
    path = tmp_path / 'my_copy.tab'
    np.savetxt(path, rows, fmt='%.5f')
    astropy_data.import_file_to_cache(legus_catalog_url(field), str(path))


def test_legus_urls():
    assert len(LEGUS_CATALOGS) == 39
    url = legus_catalog_url('NGC 628-c', readme=True)
    assert url == ('https://archive.stsci.edu/hlsps/legus/ngc628-c/cluster_catalogs/'
                   'deterministic/hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-'
                   'avgapcor.readme')
    with pytest.raises(ValueError, match="galaxy='ngc3627' is not a LEGUS field"):
        legus_catalog_url('ngc3627')


def test_legus_catalog_from_the_cache(cache, tmp_path):
    rows = legus_rows()
    seed_legus('ngc628-c', rows, tmp_path)
    path = download_legus_catalog('ngc628-c')
    assert str(cache) in path
    assert cached_url_name(path) == legus_catalog_url('ngc628-c').rsplit('/', 1)[-1]
    tbl = read_legus_catalog('ngc628-c')
    # Read under the archive's name: the field and ACS band of the file name are known.
    assert tbl.meta['file'].startswith('hlsp_legus_hst_acs-wfc3_ngc628-c_')
    assert tbl.meta['galaxy'] == 'ngc628-c' and tbl.meta['bands']['F438W'] == 'ACS/F435W'
    assert tbl.meta['url'] == legus_catalog_url('ngc628-c')
    np.testing.assert_allclose(tbl['x'], rows[:, 1] - 1, atol=1e-5)
    assert tbl['class'].tolist() == rows[:, 33].astype(int).tolist()


def test_offline_and_not_cached_says_what_to_do(cache):
    with astropy_data.conf.set_temp('allow_internet', False):
        with pytest.raises(ConnectionError, match=r'could not download the LEGUS catalogue of '
                                                  r'ngc1566 from https://archive\.stsci\.edu/.*'
                                                  r'import_file_to_cache'):
            download_legus_catalog('ngc1566')
        with pytest.raises(ConnectionError, match='PHANGS-HST catalogues of ngc1433'):
            download_phangs_catalog('ngc1433')


def _bundle(tmp_path, members):
    path = tmp_path / 'bundle.tar.gz'
    with tarfile.open(path, 'w:gz') as tar:
        for name, table in members.items():
            buffer = io.BytesIO()
            table.write(buffer, format='fits')
            info = tarfile.TarInfo(f'ngc1566/{name}')
            info.size = buffer.getbuffer().nbytes
            buffer.seek(0)
            tar.addfile(info, buffer)
    return path


def test_phangs_catalog_from_a_cached_bundle(cache, tmp_path):
    human = release_table(n=12)
    machine = release_table(n=30, seed=2)
    members = {release_name('uvis', kind='obs-human-cluster-class12'): human,
               release_name('uvis', kind='obs-machine-cluster-class12'): machine}
    bundle_url = phangs_bundle_url('ngc1566', instrument='uvis')
    astropy_data.import_file_to_cache(bundle_url, str(_bundle(tmp_path, members)))
    # Both instrument names are tried; the cached one is found without the network.
    with astropy_data.conf.set_temp('allow_internet', False):
        path = download_phangs_catalog('ngc1566', kind='obs-machine-cluster-class12')
        tbl = read_phangs_catalog('ngc1566')
    machine_read = QTable.read(path)
    assert len(machine_read) == 30 and machine_read.meta['class_column'] == 'class_ml'
    assert machine_read.meta['file'] == release_name('uvis', kind='obs-machine-cluster-class12')
    assert len(tbl) == 12 and tbl.meta['file'] == release_name('uvis')
    assert tbl.meta['url'] == f'{bundle_url}#{release_name("uvis")}'
    np.testing.assert_array_equal(tbl['x'], human['PHANGS_X'])
    # The catalogue taken from the bundle is cached on its own.
    assert astropy_data.is_url_in_cache(tbl.meta['url'])
    with pytest.raises(ValueError, match=r"holds no 'obs-sed-candidates' catalogue; it holds "
                                         r"\['hlsp_phangs-cat"):
        download_phangs_catalog('ngc1566', kind='obs-sed-candidates')
    with pytest.raises(ValueError, match='kind must be one of'):
        download_phangs_catalog('ngc1566', kind='human')
    assert 'obs-sed-candidates' in PHANGS_CATALOG_KINDS


@pytest.mark.remote_data
def test_download_legus_ngc1566():
    tbl = read_legus_catalog('ngc1566')
    assert len(tbl) == 2752 and tbl.meta['layout'] == 'legus-ngc1566'
    counts = np.bincount(tbl['class'], minlength=5).tolist()
    assert counts == [301, 477, 404, 692, 878]  # column 34, as in the shared data README


@pytest.mark.remote_data
def test_download_legus_readme():
    with open(download_legus_catalog('ngc628-c', readme=True)) as f:
        assert 'Order of the columns' in f.read()


@pytest.mark.remote_data
def test_download_phangs_ngc1566():
    tbl = read_phangs_catalog('ngc1566')
    assert tbl.meta['galaxy'] == 'ngc1566' and len(tbl) > 100
    assert set(np.unique(tbl['class_human'].compressed())) <= {1, 2}

"""Doctest set-up for the narrative documentation."""

import importlib.util
import sys
from pathlib import Path

import pytest
from astropy.config import paths
from astropy.utils.data import import_file_to_cache

from astro_clusterclass.conftest import SHARED_DATA
from astro_clusterclass.io import legus_catalog_url

#: Pages whose examples read the shared data folder directly (``SHARED_DATA``).
#: In the Sphinx build their figures come from ``.. shared-data-plot::``
#: (docs/conf.py), which draws a note instead when the data are absent.
NEEDS_SHARED_DATA = {'color_color.rst'}

#: Pages whose examples fetch public LEGUS catalogues by name
#: (`~astro_clusterclass.io.read_legus_catalog`, astropy's download cache).
#: Offline, the tests put the shared copies of these catalogues into a
#: temporary download cache under their archive URLs, the way the package's
#: own tests seed it; with ``--remote-data`` and no shared data they are
#: downloaded.
NEEDS_LEGUS_CATALOGS = {
    'catalogs.rst': ('ngc1566', 'ngc3351'),
    'compare.rst': ('ngc1566', 'ngc628-c', 'ngc628-e'),
    'tutorial.rst': ('ngc1566',),
}

#: Pages whose examples start a Dask cluster (an optional dependency).
NEEDS_DISTRIBUTED = {'scaling.rst'}


def _shared_copy(field):
    url = legus_catalog_url(field)
    path = SHARED_DATA / 'legus_tab' / url.rsplit('/', 1)[-1]
    return url, path


@pytest.fixture(autouse=True)
def _docs_namespace(request, doctest_namespace, tmp_path, monkeypatch):
    name = Path(str(request.node.fspath)).name
    if name in NEEDS_SHARED_DATA and not SHARED_DATA.exists():
        pytest.skip(f'{name} reads the shared LEGUS data, absent at {SHARED_DATA}')
    if name in NEEDS_DISTRIBUTED and importlib.util.find_spec('distributed') is None:
        pytest.skip(f'{name} needs dask.distributed (pip install astro_clusterclass[dask])')
    doctest_namespace['SHARED_DATA'] = SHARED_DATA
    # Examples write their files into a temporary directory.
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / 'astropy-cache'
    cache.mkdir()
    with paths.set_temp_cache(cache):
        fields = NEEDS_LEGUS_CATALOGS.get(name, ())
        copies = [_shared_copy(field) for field in fields]
        missing = [str(path) for _, path in copies if not path.exists()]
        online = request.config.getoption('remote_data', 'none') != 'none'
        if missing and not online:
            pytest.skip(f'{name} fetches LEGUS catalogues from MAST: run with --remote-data, '
                        f'or provide the shared copies ({", ".join(missing)})')
        if not missing:
            for url, path in copies:
                import_file_to_cache(url, str(path))
        yield
    if 'matplotlib.pyplot' in sys.modules:
        # Figures drawn by a page's examples are not kept open for the next
        # page (matplotlib warns, an error here, beyond 20 open figures).
        sys.modules['matplotlib.pyplot'].close('all')

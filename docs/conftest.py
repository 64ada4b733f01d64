"""Doctest set-up for the narrative documentation."""

import importlib.util
import sys
from pathlib import Path

import pytest

from astro_clusterclass.conftest import SHARED_DATA

#: Pages whose examples read the real LEGUS catalogues (the tutorial's
#: second half does). In the Sphinx build their figures come from
#: ``.. shared-data-plot::`` (docs/conf.py), which draws a note instead when
#: the data are absent.
NEEDS_SHARED_DATA = {'catalogs.rst', 'compare.rst', 'color_color.rst', 'tutorial.rst'}

#: Pages whose examples start a Dask cluster (an optional dependency).
NEEDS_DISTRIBUTED = {'scaling.rst'}


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
    yield
    if 'matplotlib.pyplot' in sys.modules:
        # Figures drawn by a page's examples are not kept open for the next
        # page (matplotlib warns, an error here, beyond 20 open figures).
        sys.modules['matplotlib.pyplot'].close('all')

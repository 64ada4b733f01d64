"""Doctest set-up for the narrative documentation."""

import importlib.util
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get('ASTRO_CLUSTERCLASS_SHARED_DATA',
                                  Path(__file__).resolve().parents[2] / 'shared' / 'data'))

#: Pages whose examples read the real LEGUS catalogues.
NEEDS_SHARED_DATA = {'catalogues.rst', 'compare.rst'}

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

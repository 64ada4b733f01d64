"""
The sdist is complete: built from this checkout, it holds what its tests,
docs and tox environments need, and carries its version from git.
"""

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]

REQUIRED = [
    'PKG-INFO', 'pyproject.toml', 'setup.cfg', 'tox.ini', 'MANIFEST.in', 'README.rst',
    'CHANGES.rst', 'CITATION.cff', 'LICENSE.rst', '.ci/run',
    'astro_clusterclass/__init__.py', 'astro_clusterclass/_version.py',
    'astro_clusterclass/conftest.py', 'astro_clusterclass/tests/test_layout.py',
    'astro_clusterclass/classify/tests/data/engine_reference_fp32.ecsv',
    'astro_clusterclass/data/bc03_solar_hst_vega.ecsv',
    'docs/conf.py', 'docs/conftest.py', 'docs/reference_pages.py', 'docs/reference/top_level.rst',
    'tests/test_packaging.py', 'benchmarks/bench_classify.py', 'scripts/make_engine_reference.py',
    # The review page the server sends.
    'astro_clusterclass/review/static/index.html', 'astro_clusterclass/review/static/review.js',
    'astro_clusterclass/review/static/review.css',
]


@pytest.fixture(scope='module')
def sdist(tmp_path_factory):
    if not (CHECKOUT / '.git').exists() or shutil.which('git') is None:
        pytest.skip('not a git checkout: the sdist is built from git')
    pytest.importorskip('build', reason='the sdist test needs the "build" package')
    pytest.importorskip('setuptools_scm', reason='the sdist test needs setuptools_scm')
    out = tmp_path_factory.mktemp('dist')
    # No isolation: the build uses the setuptools and setuptools_scm installed
    # here rather than downloading them.
    subprocess.run([sys.executable, '-m', 'build', '--sdist', '--no-isolation',
                    '--outdir', str(out), str(CHECKOUT)], check=True, capture_output=True)
    (path,) = out.glob('astro_clusterclass-*.tar.gz')
    with tarfile.open(path) as tar:
        names = tar.getnames()
        pkg_info = tar.extractfile(next(n for n in names if n.endswith('/PKG-INFO'))).read()
    root = names[0].split('/')[0]
    return [n.removeprefix(root + '/') for n in names], pkg_info.decode()


def test_sdist_holds_what_tests_docs_and_tox_need(sdist):
    names, _ = sdist
    missing = [name for name in REQUIRED if name not in names]
    assert not missing, missing
    assert any(n.startswith('astro_clusterclass/models/weights/compactnet_sim_v1-')
               for n in names)


def test_sdist_holds_no_build_products(sdist):
    names, _ = sdist
    bad = [n for n in names if '__pycache__' in n or n.endswith('.pyc')
           or n.startswith(('docs/_build/', 'docs/api/', 'benchmarks/output/', '.ci-venv/'))]
    assert not bad, bad[:10]


def test_sdist_metadata(sdist):
    _, pkg_info = sdist
    import setuptools_scm
    assert f'Version: {setuptools_scm.get_version(root=CHECKOUT)}\n' in pkg_info
    assert 'Requires-Python: >=3.11' in pkg_info
    assert 'Classifier: Topic :: Scientific/Engineering :: Astronomy' in pkg_info
    assert 'Project-URL: Source' in pkg_info

"""Sphinx configuration of the astro_clusterclass documentation."""

import os
import socket

import astro_clusterclass

project = 'astro_clusterclass'
author = 'astro_clusterclass developers'
copyright = '2026, astro_clusterclass developers'
version = release = astro_clusterclass.__version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.intersphinx',
    'sphinx.ext.mathjax',
    'sphinx.ext.viewcode',
    'sphinx_automodapi.automodapi',
    'sphinx_automodapi.smart_resolver',
    'numpydoc',
    'pytest_doctestplus.sphinx.doctestplus',  # .. doctest-skip:: in the narrative pages
]

master_doc = 'index'
exclude_patterns = ['_build']
default_role = 'obj'
nitpicky = True
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
automodapi_toctreedirnm = 'api'
automodsumm_inherited_members = False
# The forward() methods of the networks inherit torch's docstring, whose
# :class:`Module` is not qualified.
nitpick_ignore = [('py:class', 'Module')]

html_theme = 'pydata_sphinx_theme'
html_static_path = ['_static']
html_title = f'astro_clusterclass {version}'

intersphinx_mapping = {
    'python': ('https://docs.python.org/3/', None),
    'numpy': ('https://numpy.org/doc/stable/', None),
    'scipy': ('https://docs.scipy.org/doc/scipy/', None),
    'matplotlib': ('https://matplotlib.org/stable/', None),
    'astropy': ('https://docs.astropy.org/en/stable/', None),
    'photutils': ('https://photutils.readthedocs.io/en/stable/', None),
    'regions': ('https://astropy-regions.readthedocs.io/en/stable/', None),
    'torch': ('https://docs.pytorch.org/docs/stable/', None),
    'torchvision': ('https://docs.pytorch.org/vision/stable/', None),
}


def _online(host='docs.astropy.org', timeout=2.0):
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


if os.environ.get('SPHINX_OFFLINE') or not _online():
    # Without the network the inventories of other projects cannot be
    # fetched: references into them are left unresolved (plain text) rather
    # than failing the -W build; references inside this package stay
    # checked (nitpicky).
    intersphinx_mapping = {}
    nitpick_ignore_regex = [
        (r'py:.*', r'(numpy|np|scipy|matplotlib|astropy|photutils|regions|torch|'
                   r'torchvision|tqdm|safetensors|dask|pathlib|os|collections|'
                   r'enum|dataclasses|argparse)(\..*)?'),
        (r'py:.*', r'(array-like|path-like|callable|optional|iterable|sequence|'
                   r'mapping|dict-like|file-like|int|float|str|bool|dict|list|'
                   r'tuple|None|object|type|slice|bytes|generator|iterator|'
                   r'class|function|module|any)'),
    ]

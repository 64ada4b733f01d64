"""Sphinx configuration of the astro_clusterclass documentation."""

import argparse
import functools
import importlib
import os
import shutil
import sys
import zlib
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from matplotlib.sphinxext.plot_directive import PlotDirective

import astro_clusterclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_pages import documented_names  # noqa: E402

#: The shared real data (LEGUS catalogues, BC03 tracks), found as the tests
#: find it (docs/conftest.py); pages that read it still build without it.
SHARED_DATA = Path(os.environ.get('ASTRO_CLUSTERCLASS_SHARED_DATA',
                                  Path(__file__).resolve().parents[2] / 'shared' / 'data'))

# The Astropy project's shared configuration (extensions, numpydoc, automodapi,
# the theme), as photutils and regions use it; what follows adjusts it.
from sphinx_astropy.conf.v2 import *  # noqa: E402,F401,F403
from sphinx_astropy.conf.v2 import extensions  # noqa: E402

project = 'astro_clusterclass'
author = 'astro_clusterclass developers'
copyright = '2026, astro_clusterclass developers'
version = release = astro_clusterclass.__version__

extensions = [ext for ext in extensions
              # no inheritance diagrams (graphviz) and no config generator
              if ext not in ('sphinx.ext.inheritance_diagram',
                             'sphinx_astropy.ext.generate_config')]

exclude_patterns = ['_build']
nitpicky = True
numpydoc_xref_param_type = False
automodapi_toctreedirnm = 'api'
automodsumm_inherited_members = False
# The forward() methods of the networks inherit torch's docstring, whose
# :class:`Module` is not qualified. The flag enums name their private base
# class (astro_clusterclass._utils.flags) among their bases.
nitpick_ignore = [('py:class', 'Module'), ('py:class', 'astro_clusterclass._utils.flags.FlagBase')]

# Figures of the tutorial and the user guide are made during the build by
# ``.. plot::`` (and ``.. shared-data-plot::``, below) from the code shown
# next to them; the same code runs as doctests under pytest.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [('png', 100)]
plot_pre_code = ('import numpy as np\n'
                 'from matplotlib import pyplot as plt\n'
                 'from pathlib import Path\n'
                 f'SHARED_DATA = Path({str(SHARED_DATA)!r})\n')
# Files written by the examples land here, not in the source tree; it starts
# empty on every build, as the doctests' temporary directory does.
plot_working_directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_build',
                                      'plot_working_directory')
shutil.rmtree(plot_working_directory, ignore_errors=True)
os.makedirs(plot_working_directory)

html_theme = 'pydata_sphinx_theme'
html_static_path = ['_static']
html_css_files = ['astro_clusterclass.css']
html_title = f'astro_clusterclass {version}'
html_theme_options = {
    # The top-level sections, all in the header bar.
    'header_links_before_dropdown': 5,
    'navigation_with_keys': False,
}
# Pages without sub-pages have nothing to show in the left sidebar: drop it,
# so that their code and figures get the full width.
html_sidebars = {page: [] for page in ('index', 'install', 'getting_started', 'tutorial',
                                       'changes', 'citation')}

# Inventories of the projects the docs link to. Each has a local fallback: an
# empty inventory written below, so that a build without a network degrades to
# plain text for those references (see _unlinked_external) instead of failing.
_EXTERNAL = {
    'python': 'https://docs.python.org/3/',
    'numpy': 'https://numpy.org/doc/stable/',
    'scipy': 'https://docs.scipy.org/doc/scipy/',
    'matplotlib': 'https://matplotlib.org/stable/',
    'astropy': 'https://docs.astropy.org/en/stable/',
    'photutils': 'https://photutils.readthedocs.io/en/stable/',
    'regions': 'https://astropy-regions.readthedocs.io/en/stable/',
    'torch': 'https://docs.pytorch.org/docs/stable/',
    'torchvision': 'https://docs.pytorch.org/vision/stable/',
}
_EMPTY_INVENTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_build',
                                'empty_objects.inv')
os.makedirs(os.path.dirname(_EMPTY_INVENTORY), exist_ok=True)
with open(_EMPTY_INVENTORY, 'wb') as _fh:
    _fh.write(b'# Sphinx inventory version 2\n# Project: none\n# Version: 0\n'
              b'# The remainder of this file is compressed using zlib.\n' + zlib.compress(b''))
intersphinx_mapping = {name: (url, (None, _EMPTY_INVENTORY)) for name, url in _EXTERNAL.items()}
intersphinx_timeout = 10

#: First component of a reference target → the project whose inventory holds it.
_EXTERNAL_ROOTS = {
    **dict.fromkeys(('numpy', 'np'), 'numpy'), 'scipy': 'scipy', 'matplotlib': 'matplotlib',
    'astropy': 'astropy', 'photutils': 'photutils', 'regions': 'regions', 'torch': 'torch',
    'torchvision': 'torchvision',
    **dict.fromkeys(('int', 'float', 'str', 'bool', 'dict', 'list', 'tuple', 'None', 'object',
                     'type', 'slice', 'bytes', 'pathlib', 'os', 'collections', 'enum',
                     'dataclasses', 'argparse', 'FileExistsError', 'ValueError', 'TypeError',
                     'KeyError', 'OSError', 'FileNotFoundError', 'Exception', 'Warning',
                     'concurrent', 'logging', 'sqlite3', 'json', 'io', 'typing'), 'python'),
}
#: Third-party packages without an inventory here (their names stay plain text).
_UNLINKED = ('tqdm', 'safetensors', 'dask', 'distributed')
# numpydoc's words for kinds of argument are not objects.
nitpick_ignore_regex = [
    (r'py:.*', r'(array-like|path-like|callable|optional|iterable|sequence|mapping|'
               r'dict-like|file-like|class|function|module|any)'),
]


def _unlinked_external(app, env, node, contnode):
    """Plain text for a reference into a project whose inventory could not be fetched."""
    root = node.get('reftarget', '').split('.')[0]
    if root in _UNLINKED:
        return contnode
    project = _EXTERNAL_ROOTS.get(root)
    if project is None:
        return None
    inventories = getattr(env, 'intersphinx_named_inventory', {})
    if inventories.get(project):
        return None  # the inventory is there: a genuine broken reference stays an error
    return contnode


_MISSING_DATA_FIGURE = f"""
import matplotlib.pyplot as plt
fig = plt.figure(figsize=(7, 1.2))
fig.text(0.5, 0.5, 'This figure needs the shared LEGUS data, which were not found\\n'
         'at {SHARED_DATA} when these pages were built\\n'
         '(set ASTRO_CLUSTERCLASS_SHARED_DATA to the data folder and rebuild).',
         ha='center', va='center', fontsize=10, color='0.3')
"""


class SharedDataPlot(PlotDirective):
    """
    ``.. plot::`` for code that reads the shared LEGUS data.

    With the data present it is exactly ``.. plot::``. Without them the
    build still succeeds: the code is shown but not run, and a figure that
    says what is missing takes the place of the plot (``:nofigs:`` blocks
    show only the code).
    """

    def run(self):
        if SHARED_DATA.exists():
            return super().run()
        code = '\n'.join(self.content)
        shown = []
        if self.options.get('include-source', plot_include_source):
            shown.append(nodes.doctest_block(code, code))
        if 'nofigs' in self.options:
            return shown
        self.content = StringList(_MISSING_DATA_FIGURE.strip().splitlines())
        self.options = {key: value for key, value in self.options.items()
                        if key not in ('context', 'nofigs', 'format')}
        self.options['include-source'] = False
        return shown + super().run()


class CommandHelp(Directive):
    """``.. clusterclass-help:: run``: the ``--help`` text of a subcommand, as built."""

    required_arguments = 0
    optional_arguments = 1

    def run(self):
        from astro_clusterclass.cli import build_parser
        parser = build_parser()
        if self.arguments:
            subparsers = next(a for a in parser._actions
                              if isinstance(a, argparse._SubParsersAction))
            parser = subparsers.choices[self.arguments[0]]
        parser.formatter_class = functools.partial(argparse.HelpFormatter, width=76)
        text = parser.format_help().rstrip()
        return [nodes.literal_block(text, text, language='text')]


@functools.cache
def _documented_as():
    """id(object) → the one full name it is documented under."""
    return {id(obj): name for name, obj in documented_names()}


def _resolve_alias(app, env, node, contnode):
    """Resolve a top-level shortcut or a re-export to where the object is documented."""
    target = node.get('reftarget', '')
    if node.get('refdomain') != 'py' or not target.startswith('astro_clusterclass.'):
        return None
    modname, _, name = target.rpartition('.')
    try:
        obj = getattr(importlib.import_module(modname), name)
    except (ImportError, AttributeError):
        return None
    home = _documented_as().get(id(obj))
    if home is None or home == target:
        return None
    return env.get_domain('py').resolve_xref(env, node['refdoc'], app.builder,
                                             node['reftype'], home, node, contnode)


def setup(app):
    app.connect('missing-reference', _resolve_alias)
    # After intersphinx's own handler (priority 500) has had its chance.
    app.connect('missing-reference', _unlinked_external, priority=900)
    app.add_directive('shared-data-plot', SharedDataPlot)
    app.add_directive('clusterclass-help', CommandHelp)

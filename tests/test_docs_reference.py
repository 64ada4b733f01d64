"""
The API reference follows the package's layout: one page per public
subpackage or top-level module, every object documented once, every
top-level shortcut listed. These tests read ``docs/`` and so live with the
checkout, not in the installed package.
"""

import importlib.util
from pathlib import Path

import astro_clusterclass

CHECKOUT = Path(__file__).resolve().parents[1]
DOCS = CHECKOUT / 'docs'
PACKAGE = Path(astro_clusterclass.__file__).parent


def _reference_pages():
    spec = importlib.util.spec_from_file_location('reference_pages', DOCS / 'reference_pages.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _public_units():
    """The public subpackages and top-level modules of the package (what gets a page)."""
    units = set()
    for path in PACKAGE.iterdir():
        name = path.stem if path.suffix == '.py' else path.name
        if name.startswith('_') or name in ('conftest', 'tests', 'data'):
            continue
        if path.suffix == '.py' or (path / '__init__.py').is_file():
            units.add(f'astro_clusterclass.{name}')
    return units


def test_one_reference_page_per_subpackage():
    pages = _reference_pages().documented_modules()
    assert sorted(pages) == sorted(_public_units())


def test_no_object_documented_twice():
    seen, twice = {}, []
    for name, obj in _reference_pages().documented_names():
        # Small ints and strings are shared objects: only functions, classes and
        # containers are identified by identity.
        if not (callable(obj) or isinstance(obj, (dict, list, tuple, frozenset, set))):
            continue
        if id(obj) in seen:
            twice.append(f'{name} is {seen[id(obj)]}')
        seen.setdefault(id(obj), name)
    assert not twice, '\n'.join(twice)


def test_top_level_page_lists_every_shortcut():
    text = (DOCS / 'reference' / 'top_level.rst').read_text()
    missing = [name for name in astro_clusterclass.__all__ if f'``{name}``' not in text
               and name != '__version__']
    assert not missing, f'docs/reference/top_level.rst does not list {missing}'

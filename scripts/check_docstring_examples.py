"""
List the public functions and classes whose docstring has no example.

"Public" means named in the ``__all__`` of a public module of the package
(modules whose names start with an underscore are skipped, but what they
export through a public ``__init__`` is checked). An example is an
``Examples`` section or a ``>>>`` line. Exits with status 1 when something
lacks one.

Usage::

    python scripts/check_docstring_examples.py
"""

import importlib
import inspect
import pkgutil
import sys

import astro_clusterclass


def public_objects():
    """``{qualified name: (object, modules exporting it)}`` of functions and classes."""
    modules = [astro_clusterclass]
    for info in pkgutil.walk_packages(astro_clusterclass.__path__, 'astro_clusterclass.'):
        parts = info.name.split('.')[1:]
        if any(part.startswith('_') or part in ('tests', 'conftest') for part in parts):
            continue  # private modules, and the tests shipped with the package
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError as exc:  # an optional dependency is missing
            print(f'skipped {info.name}: {exc}', file=sys.stderr)
    found = {}
    for module in modules:
        for name in getattr(module, '__all__', ()):
            obj = getattr(module, name, None)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                key = f'{obj.__module__}.{obj.__qualname__}'
                found.setdefault(key, (obj, set()))[1].add(module.__name__)
    return found


def main():
    found = public_objects()
    missing = []
    for key, (obj, modules) in sorted(found.items()):
        doc = inspect.getdoc(obj) or ''
        if 'Examples\n--------' not in doc and '>>>' not in doc:
            missing.append(key)
            print(f'{key}  (exported by {", ".join(sorted(modules))})')
    print(f'{len(missing)} of {len(found)} public functions and classes lack an example',
          file=sys.stderr)
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main())

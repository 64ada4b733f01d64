"""
What the API reference documents, read from its pages (``docs/reference``).

Each page holds one ``automodapi`` directive; the names it documents are
the module's ``__all__`` less its ``:skip:`` list. The Sphinx configuration
uses this to resolve a reference to a shortcut (``astro_clusterclass.
classify_table``) or a re-export to the one place the object is documented;
the package's layout test uses it to check that no object is documented twice.
"""

import importlib
import inspect
import re
from pathlib import Path

__all__ = ['REFERENCE', 'documented_modules', 'documented_names']

REFERENCE = Path(__file__).parent / 'reference'
_DIRECTIVE = re.compile(r'^\.\. automodapi:: (\S+)\s*$((?:\n   :.*$)*)', re.M)


def documented_modules():
    """``{module name: (include_all_objects, skip)}`` for every reference page."""
    out = {}
    for page in sorted(REFERENCE.glob('*.rst')):
        for match in _DIRECTIVE.finditer(page.read_text()):
            options = match.group(2)
            skip = re.search(r':skip: (.*)$', options, re.M)
            out[match.group(1)] = (':include-all-objects:' in options,
                                   [s.strip() for s in skip.group(1).split(',')] if skip else [])
    return out


def documented_names():
    """``[(full name, object)]`` of everything the reference pages document."""
    out = []
    for modname, (all_objects, skip) in documented_modules().items():
        module = importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if name in skip or not (all_objects or inspect.isclass(obj) or callable(obj)):
                continue
            out.append((f'{modname}.{name}', obj))
    return out

"""
The layout is a map of the architecture: read every module's source (no
import) and check the rules the package keeps.

- no module imports a private name (``_x``, or a private module) from another
  subpackage; the shared private layer ``_utils`` and ``_version`` excepted;
- the modules import each other without a cycle;
- every public module that defines public names lists them in ``__all__``.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = 'astro_clusterclass'
ROOT = Path(__file__).resolve().parents[1]
SHARED = {f'{PACKAGE}._utils', f'{PACKAGE}._version'}


def _modules():
    """Module name → parsed source, tests and conftest files left out."""
    out = {}
    for path in sorted(ROOT.rglob('*.py')):
        rel = path.relative_to(ROOT.parent).with_suffix('')
        parts = list(rel.parts)
        if 'tests' in parts or parts[-1] == 'conftest':
            continue
        if parts[-1] == '__init__':
            parts = parts[:-1]
        out['.'.join(parts)] = (path, ast.parse(path.read_text(), filename=str(path)))
    return out


MODULES = _modules()


def _is_package(name):
    return MODULES[name][0].name == '__init__.py'


def _resolve(module, node):
    """The absolute module an ``ImportFrom`` node names."""
    if node.level == 0:
        return node.module
    base = module.split('.') if _is_package(module) else module.split('.')[:-1]
    base = base[:len(base) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))


def _imports(module, tree):
    """(target module, imported name or None, line) for every in-package import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if not target or not target.startswith(PACKAGE):
                continue
            for alias in node.names:
                sub = f'{target}.{alias.name}'
                if sub in MODULES:
                    yield sub, None, node.lineno
                else:
                    yield target, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE):
                    yield alias.name, None, node.lineno


def _subpackage(name):
    """The top-level unit a module belongs to (``astro_clusterclass.classify``, ...)."""
    parts = name.split('.')
    return '.'.join(parts[:2])


def _private(name):
    return any(part.startswith('_') and not part.startswith('__') for part in name.split('.'))


def test_the_layout_is_found():
    # Guards the other tests against silently checking nothing.
    assert f'{PACKAGE}.classify' in MODULES
    assert f'{PACKAGE}.classify._ensemble' in MODULES
    assert len(MODULES) > 40


def test_no_private_names_across_subpackages():
    offences = []
    for module, (path, tree) in MODULES.items():
        for target, name, line in _imports(module, tree):
            if _subpackage(target) == _subpackage(module) or target in SHARED:
                continue
            if any(target == s or target.startswith(s + '.') for s in SHARED):
                continue
            what = f'{target}.{name}' if name else target
            if _private(what.removeprefix(PACKAGE + '.')):
                offences.append(f'{path.relative_to(ROOT.parent)}:{line} imports {what}')
    assert not offences, '\n'.join(offences)


def _graph():
    graph = {}
    for module, (_, tree) in MODULES.items():
        deps = set()
        for target, _, _ in _imports(module, tree):
            # Importing ``pkg.sub`` runs ``pkg`` first: a dependency on both.
            parts = target.split('.')
            for i in range(2, len(parts) + 1):
                mod = '.'.join(parts[:i])
                if mod in MODULES and mod != module and not module.startswith(mod + '.'):
                    deps.add(mod)
        graph[module] = deps
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 'open':
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 'done'
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    # Imports inside functions count too: a hidden import is still a cycle.
    cycle = _cycle(_graph())
    assert cycle is None, ' -> '.join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert _cycle({'a': {'b'}, 'b': set()}) is None


def _public_definitions(tree):
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return [n for n in names if not n.startswith('_')]


def _all(tree):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '__all__' for t in node.targets):
            # Only the literal names: ``[*sub.__all__, 'x']`` extends another list.
            return [elt.value for elt in getattr(node.value, 'elts', [])
                    if isinstance(elt, ast.Constant)]
    return None


@pytest.mark.parametrize('module', [m for m in MODULES if not _private(m)])
def test_public_modules_declare_all(module):
    path, tree = MODULES[module]
    public = _public_definitions(tree)
    declared = _all(tree)
    if not public and declared is None:
        return
    assert declared is not None, f'{path.name} defines {public} but has no __all__'
    missing = [name for name in declared if name not in _names_bound(tree)]
    assert not missing, f'{module}.__all__ names {missing}, which the module does not bind'


def _names_bound(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split('.')[0])
        elif isinstance(node, (ast.If, ast.Try)):
            names |= _names_bound(ast.Module(body=node.body, type_ignores=[]))
    return names

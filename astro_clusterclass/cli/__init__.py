"""
The ``clusterclass`` command line.

Each subcommand lives in its own public module of this package (found
automatically) and provides ``add_parser(subparsers)``, which registers
the subcommand and sets ``func`` to the function that runs it.
Subcommands are thin: they parse arguments, call the library and write
files. Modules whose names start with an underscore are helpers.
"""

import argparse
import importlib
import pkgutil
import sys

from .._version import __version__

__all__ = ['main', 'build_parser', 'subcommand_modules']

#: Subcommands listed first in ``--help``, in this order; others follow
#: alphabetically.
_ORDER = ('run', 'simulate', 'classify', 'train', 'compare', 'regions', 'cutouts')


def subcommand_modules():
    """
    Names of the modules of this package that define subcommands.

    Examples
    --------
    >>> from astro_clusterclass.cli import subcommand_modules
    >>> subcommand_modules()
    ['run', 'simulate', 'classify', 'train', 'compare', 'regions', 'cutouts']
    """
    names = [m.name for m in pkgutil.iter_modules(__path__)
             if not m.name.startswith('_') and not m.ispkg]  # not tests/
    return sorted(names, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))


def build_parser():
    """
    Return the `argparse.ArgumentParser` of ``clusterclass``.

    Examples
    --------
    >>> from astro_clusterclass.cli import build_parser
    >>> args = build_parser().parse_args(['regions', 'catalog.ecsv', '-o', 'catalog.reg'])
    >>> args.command, args.catalog, args.output
    ('regions', 'catalog.ecsv', 'catalog.reg')
    """
    parser = argparse.ArgumentParser(
        prog='clusterclass',
        description='Classify star-cluster candidates in five-band HST images '
                    'and compare classifications (PHANGS-HST / LEGUS).')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in subcommand_modules():
        importlib.import_module(f'.{name}', __name__).add_parser(subparsers)
    return parser


def main(argv=None):
    """
    Run ``clusterclass``; returns the process exit status.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.cli import main
    >>> work = tempfile.mkdtemp()
    >>> main(['simulate', '-o', work, '--shape', '300', '300', '--seed', '1'])  # doctest: +ELLIPSIS
    simulated 300x300 px, ... candidates at 10 Mpc (seed 1) in ... s
    ...
    0
    >>> main(['regions', os.path.join(work, 'field_truth.ecsv'),
    ...       '-o', os.path.join(work, 'truth.reg')])  # doctest: +ELLIPSIS
    wrote ... regions for ... rows to .../truth.reg
    0
    >>> main(['regions', os.path.join(work, 'missing.ecsv'), '-o', 'x.reg'])  # error on stderr
    1
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, 'func', None):
        parser.print_help()
        return 2
    try:
        args.func(args)
    except (ValueError, TypeError, FileNotFoundError, OSError, ImportError) as exc:
        # Library errors already say what is wrong and which parameter;
        # show them without a traceback.
        print(f'clusterclass {args.command}: error: {exc}', file=sys.stderr)
        return 1
    return 0

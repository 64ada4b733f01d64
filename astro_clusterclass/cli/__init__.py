"""
The ``clusterclass`` command line.

Each subcommand lives in its own module of this package and provides
``add_parser(subparsers)``, which registers the subcommand and sets
``func`` to the function that runs it. Subcommands are thin: they parse
arguments, call the library and write files.
"""

import argparse
import importlib
import sys

from .._version import __version__

__all__ = ['main', 'SUBCOMMANDS']

#: Modules of this package that define subcommands, in ``--help`` order.
SUBCOMMANDS = ('regions', 'cutouts')


def build_parser():
    """Return the `argparse.ArgumentParser` of ``clusterclass``."""
    parser = argparse.ArgumentParser(
        prog='clusterclass',
        description='Classify star-cluster candidates in five-band HST images '
                    'and compare classifications (PHANGS-HST / LEGUS).')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in SUBCOMMANDS:
        importlib.import_module(f'.{name}', __name__).add_parser(subparsers)
    return parser


def main(argv=None):
    """Run ``clusterclass``; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, 'func', None):
        parser.print_help()
        return 2
    try:
        args.func(args)
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        # Library errors already say what is wrong and which parameter;
        # show them without a traceback.
        print(f'clusterclass {args.command}: error: {exc}', file=sys.stderr)
        return 1
    return 0

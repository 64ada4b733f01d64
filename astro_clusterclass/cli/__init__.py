"""
The ``clusterclass`` command line.

Each subcommand lives in its own public module of this package (found
automatically) and provides ``add_parser(subparsers)``, which registers
the subcommand and sets ``func`` to the function that runs it.
Subcommands are thin: they parse arguments, call the library and write
files. Modules whose names start with an underscore are helpers.

Only the module of the subcommand being run is imported (the others are
listed from their docstrings), and subcommand modules import the library
inside their run functions, so ``--help``, ``--version`` and the commands
that need no model start without importing torch.
"""

import argparse
import ast
import contextlib
import importlib
import importlib.util
import logging
import os
import pkgutil
import sys

from .. import __version__

__all__ = ['main', 'build_parser', 'subcommand_modules', 'error_line', 'HelpFormatter',
           'CommandParser']

#: Subcommands listed first in ``--help``, in this order; others follow
#: alphabetically.
_ORDER = ('run', 'simulate', 'classify', 'review', 'calibrate', 'train', 'import_model',
          'compare', 'regions', 'cutouts')

#: Help of options that every writing command shares.
_STANDARD_HELP = {
    '--overwrite': 'replace existing outputs (written to a temporary file first, so a '
                   'failure leaves the previous output as it was)',
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """
    Shows each option's default, unless its help already tells it or there is none.

    Examples
    --------
    >>> import argparse
    >>> from astro_clusterclass.cli import HelpFormatter
    >>> parser = argparse.ArgumentParser(prog='x', formatter_class=HelpFormatter)
    >>> _ = parser.add_argument('--size', type=int, default=299, help='stamp size')
    >>> 'stamp size (default: 299)' in parser.format_help()
    True
    """

    def _get_help_string(self, action):
        text = action.help or ''
        if ('%(default)' in text or 'default' in text.lower() or action.default in
                (None, False, argparse.SUPPRESS) or not action.option_strings):
            return text
        return f'{text} (default: %(default)s)'


class CommandParser(argparse.ArgumentParser):
    """
    The parser of a subcommand: shows defaults, and has ``-q/--quiet`` and ``-v/--verbose``.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('formatter_class', HelpFormatter)
        super().__init__(*args, **kwargs)
        noise = self.add_argument_group('messages')
        group = noise.add_mutually_exclusive_group()
        group.add_argument('-q', '--quiet', action='store_true',
                           help='print only warnings and errors; no progress bars')
        group.add_argument('-v', '--verbose', action='store_true',
                           help='also print debugging messages, and the traceback of an error')

    def add_argument(self, *args, **kwargs):
        for name in args:
            if name in _STANDARD_HELP and not kwargs.get('help'):
                kwargs['help'] = _STANDARD_HELP[name]
        return super().add_argument(*args, **kwargs)


def subcommand_modules():
    """
    Names of the modules of this package that define subcommands.

    Examples
    --------
    >>> from astro_clusterclass.cli import subcommand_modules
    >>> subcommand_modules()  # doctest: +NORMALIZE_WHITESPACE
    ['run', 'simulate', 'classify', 'review', 'calibrate', 'train', 'import_model', 'compare',
     'regions', 'cutouts']
    """
    names = [m.name for m in pkgutil.iter_modules(__path__)
             if not m.name.startswith('_') and not m.ispkg]  # not tests/
    return sorted(names, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))


def _command(module):
    return module.replace('_', '-')


def _summary(module):
    """The one-line summary of a subcommand, from its module's docstring, without importing it."""
    spec = importlib.util.find_spec(f'{__name__}.{module}')
    with open(spec.origin, encoding='utf-8') as fh:
        doc = ast.get_docstring(ast.parse(fh.read())) or ''
    line = doc.strip().splitlines()[0] if doc.strip() else ''
    line = line.split(':', 1)[1] if line.startswith('``') and ':' in line else line
    return line.strip().rstrip('.')


def build_parser(commands=None):
    """
    Return the `argparse.ArgumentParser` of ``clusterclass``.

    ``commands`` are the subcommand modules whose options are built (their
    modules imported); the others are listed by name and summary only.
    The default, `None`, builds them all.

    Examples
    --------
    >>> from astro_clusterclass.cli import build_parser
    >>> args = build_parser().parse_args(['regions', 'catalog.ecsv', '-o', 'catalog.reg'])
    >>> args.command, args.catalog, args.output
    ('regions', 'catalog.ecsv', 'catalog.reg')
    """
    parser = argparse.ArgumentParser(
        prog='clusterclass', formatter_class=HelpFormatter,
        description='Classify star-cluster candidates in five-band HST images '
                    'and compare classifications (PHANGS-HST / LEGUS). '
                    "'clusterclass COMMAND --help' describes each command.")
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND',
                                       parser_class=CommandParser)
    for name in subcommand_modules():
        if commands is None or name in commands:
            importlib.import_module(f'.{name}', __name__).add_parser(subparsers)
        else:
            subparsers.add_parser(_command(name), help=_summary(name), add_help=False)
    return parser


def _requested(argv):
    """The subcommand module named on the command line, as a list (empty when none)."""
    names = {_command(n): n for n in subcommand_modules()}
    for arg in argv:
        if not arg.startswith('-'):
            return [names[arg]] if arg in names else []
    return []


@contextlib.contextmanager
def _messages(args):
    """Package log messages on stderr at the level of -q/-v; stdout silenced by -q."""
    logger = logging.getLogger('astro_clusterclass')
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(message)s'))
    level = (logging.WARNING if getattr(args, 'quiet', False) else
             logging.DEBUG if getattr(args, 'verbose', False) else logging.INFO)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        if getattr(args, 'quiet', False):
            with open(os.devnull, 'w') as devnull, contextlib.redirect_stdout(devnull):
                yield
        else:
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def main(argv=None):
    """
    Run ``clusterclass``; returns the process exit status.

    Every error is printed as one line on standard error, naming the
    subcommand, and gives status 1 (with ``-v``, its traceback too); an
    interruption (Ctrl-C) gives 130 and one line; a usage error 2 (from
    `argparse`). Package log messages go to standard error: information
    by default, warnings and errors only with ``-q`` (which also silences
    the results printed on standard output), debugging with ``-v``.

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
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_requested(argv))
    args = parser.parse_args(argv)
    if not getattr(args, 'func', None):
        parser.print_help()
        return 2
    try:
        with _messages(args):
            args.func(args)
    except KeyboardInterrupt:
        print(f'clusterclass {args.command}: interrupted', file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (every error: one line, status 1)
        # Library errors (CheckpointError, a ValueError, among them) already
        # say what is wrong, which file and which parameter: one line, no
        # traceback unless asked for.
        if getattr(args, 'verbose', False):
            import traceback
            traceback.print_exception(exc, file=sys.stderr)
        expected = isinstance(exc, (ValueError, TypeError, OSError, ImportError))
        kind = '' if expected else f'{type(exc).__name__}: '
        print(f'clusterclass {args.command}: error: {kind}{error_line(exc)}', file=sys.stderr)
        return 1
    return 0


def error_line(exc):
    """
    An exception as one line: its message and notes, whitespace runs made single spaces.

    Examples
    --------
    >>> from astro_clusterclass.cli import error_line
    >>> exc = ValueError('cannot identify the class column:\\n  column 34: {0: 3}')
    >>> exc.add_note('run again with resume=True')
    >>> error_line(exc)
    'cannot identify the class column: column 34: {0: 3} (run again with resume=True)'
    """
    text = ' '.join(str(exc).split()) or type(exc).__name__
    notes = ' '.join(' '.join(str(note).split()) for note in getattr(exc, '__notes__', ()))
    return f'{text} ({notes})' if notes else text

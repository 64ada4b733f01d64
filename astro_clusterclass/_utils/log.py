"""
The package logger and when to show progress bars.

Library modules log progress and information through
``logging.getLogger('astro_clusterclass.<module>')`` (`get_logger`), never
`print`; applications choose what is shown (the command line: ``-q`` and
``-v``). Without configuration Python shows warnings and errors only.
"""

import logging
import sys

__all__ = ['LOGGER_NAME', 'get_logger', 'show_progress']

#: Name of the package logger; module loggers are its children.
LOGGER_NAME = 'astro_clusterclass'


def get_logger(name=None):
    """
    The package logger, or its child ``name`` (a module's ``__name__``).

    Examples
    --------
    >>> from astro_clusterclass._utils.log import get_logger
    >>> get_logger('astro_clusterclass.pipeline').name
    'astro_clusterclass.pipeline'
    >>> get_logger().name
    'astro_clusterclass'
    """
    if name is None or name == LOGGER_NAME:
        return logging.getLogger(LOGGER_NAME)
    if not name.startswith(f'{LOGGER_NAME}.'):
        name = f'{LOGGER_NAME}.{name}'
    return logging.getLogger(name)


def show_progress(progress=True, *, stream=None):
    """
    Whether to draw a progress bar: asked for, the package logs INFO, and ``stream`` is a terminal.

    ``stream`` defaults to `sys.stderr`, where tqdm draws.

    Examples
    --------
    >>> import io
    >>> from astro_clusterclass._utils.log import show_progress
    >>> show_progress(True, stream=io.StringIO())  # not a terminal
    False
    >>> show_progress(False)
    False
    """
    if not progress:
        return False
    stream = sys.stderr if stream is None else stream
    if not logging.getLogger(LOGGER_NAME).isEnabledFor(logging.INFO) and \
            logging.getLogger(LOGGER_NAME).level != logging.NOTSET:
        return False
    isatty = getattr(stream, 'isatty', None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False

"""
The output policy: refuse existing outputs unless asked, and write atomically.

Every writer of the package checks its output with `check_output` (one
exception type, one message) and writes through `atomic_path`: the data
go to a temporary file in the destination folder, which is renamed into
place only when complete, so a failure leaves either the previous file or
none, never half a file.
"""

import contextlib
import os
import tempfile

__all__ = ['check_output', 'atomic_path', 'TEMPORARY_MARK']

#: Part of the names of temporary files (so that they can be recognised).
TEMPORARY_MARK = '.partial-'


def check_output(path, *, overwrite=False, parameter='output', flag=None):
    """
    Refuse an existing ``path`` unless ``overwrite``.

    ``flag`` is the command-line option that allows it (``'--overwrite'``);
    library callers leave it out and the message names ``overwrite=True``.

    Raises
    ------
    FileExistsError
        ``"<parameter>: '<path>' exists; pass overwrite=True to replace it"``.

    Examples
    --------
    >>> import tempfile
    >>> from astro_clusterclass._utils.files import check_output
    >>> with tempfile.NamedTemporaryFile() as fh:
    ...     check_output(fh.name, parameter='output')   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileExistsError: output: '...' exists; pass overwrite=True to replace it
    """
    path = os.fspath(path)
    if os.path.lexists(path) and not overwrite:
        msg = f'{parameter}: {path!r} exists; pass {flag or "overwrite=True"} to replace it'
        raise FileExistsError(msg)
    return path


@contextlib.contextmanager
def atomic_path(path, *, suffix=None):
    """
    A temporary path beside ``path``; renamed to ``path`` when the block succeeds.

    The temporary name keeps the extension (``suffix``, default that of
    ``path``) so that writers that choose a format from it still work. On
    an exception the temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass._utils.files import atomic_path
    >>> target = os.path.join(tempfile.mkdtemp(), 'out.txt')
    >>> with atomic_path(target) as tmp:
    ...     with open(tmp, 'w') as fh:
    ...         _ = fh.write('done')
    >>> with open(target) as fh:
    ...     fh.read()
    'done'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    if suffix is None:
        stem, dot, ext = base.partition('.')
        suffix = dot + ext
    fd, tmp = tempfile.mkstemp(prefix=f'.{base}{TEMPORARY_MARK}', suffix=suffix, dir=folder)
    os.close(fd)
    os.remove(tmp)  # writers create the file themselves (some refuse an existing one)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise

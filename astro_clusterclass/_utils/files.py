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
import shutil
import tempfile

__all__ = ['check_output', 'atomic_path', 'TEMPORARY_MARK', 'check_writable',
           'atomic_folder']

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
def atomic_path(path):
    """
    A temporary path for ``path``; renamed to ``path`` when the block succeeds.

    The temporary file has the name of ``path`` (so that writers that
    choose a format from the extension still work) inside a private
    temporary folder beside it, ``.<name>.partial-<random>/``. The folder
    also holds whatever the writer makes on its way (safetensors, for one,
    writes through a ``.tmp*`` file of its own and renames it), so a
    process killed mid-write leaves one recognisable temporary and nothing
    else. On an exception the temporary folder is removed and ``path`` is
    untouched; an `OSError` (a full disk, a file-size limit) gets a note
    naming ``path``. A folder that is missing or not writable is refused
    before anything is written, with a message naming ``path``.

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
    >>> os.listdir(os.path.dirname(target))   # the temporary folder is gone
    ['out.txt']
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    if not os.path.isdir(folder):
        msg = f'cannot write {path!r}: the folder {folder!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        private = tempfile.mkdtemp(prefix=f'.{base}{TEMPORARY_MARK}', dir=folder)
    except PermissionError as exc:
        msg = f'cannot write {path!r}: the folder {folder!r} is not writable ({exc.strerror})'
        raise PermissionError(msg) from exc
    try:
        yield os.path.join(private, base)
        os.replace(os.path.join(private, base), path)
    except BaseException as exc:
        if isinstance(exc, OSError):
            # A full disk or a file-size limit names the temporary file, if anything.
            exc.add_note(f'while writing {path!r}, which was left as it was')
        raise
    finally:
        shutil.rmtree(private, ignore_errors=True)


def check_writable(path, *, overwrite=False, parameter='output', flag=None, extensions=None,
                   folder=False):
    """
    Refuse, before any work, an output that cannot be written.

    ``path`` is refused when it exists (a folder: when it holds anything)
    and ``overwrite`` is False (`check_output`'s message), when its folder
    is missing or not writable, and, with ``extensions`` (lower-case, with
    the dot), when its name ends with none of them. ``folder`` says that
    ``path`` is a folder to create (its parent must exist).

    Examples
    --------
    >>> import tempfile
    >>> from astro_clusterclass._utils.files import check_writable
    >>> check_writable('/no/such/folder/out.reg', parameter='-o')
    Traceback (most recent call last):
    ...
    FileNotFoundError: -o: cannot write '/no/such/folder/out.reg': the folder '/no/such/folder' \
does not exist
    >>> check_writable('out.txt', parameter='-o', extensions=('.reg',))
    Traceback (most recent call last):
    ...
    ValueError: -o: cannot write 'out.txt': unknown extension; use .reg
    """
    path = os.fspath(path)
    if folder and os.path.isdir(path):
        if os.listdir(path):
            if not overwrite:
                msg = (f'{parameter}: {path!r} exists and is not empty; pass '
                       f'{flag or "overwrite=True"} to replace its files')
                raise FileExistsError(msg)
        parent = path
    else:
        check_output(path, overwrite=overwrite, parameter=parameter, flag=flag)
        parent = os.path.dirname(os.path.abspath(path))
    if folder and os.path.lexists(path) and not os.path.isdir(path):
        msg = f'{parameter}: cannot write the folder {path!r}: a file of that name exists'
        raise FileExistsError(msg)
    if extensions is not None and not path.lower().endswith(tuple(extensions)):
        msg = (f'{parameter}: cannot write {path!r}: unknown extension; use '
               f'{", ".join(extensions)}')
        raise ValueError(msg)
    if not os.path.isdir(parent):
        msg = f'{parameter}: cannot write {path!r}: the folder {parent!r} does not exist'
        raise FileNotFoundError(msg)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f'{parameter}: cannot write {path!r}: the folder {parent!r} is not writable'
        raise PermissionError(msg)
    return path


def _merge(source, target):
    """Move the entries of folder ``source`` into folder ``target``, replacing files."""
    for name in os.listdir(source):
        src, dst = os.path.join(source, name), os.path.join(target, name)
        if os.path.isdir(src) and os.path.isdir(dst):
            _merge(src, dst)
        else:
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            os.replace(src, dst)


@contextlib.contextmanager
def atomic_folder(path):
    """
    A temporary folder beside ``path``, whose files go into ``path`` when the block succeeds.

    A new ``path`` is the temporary folder renamed; into an existing one
    (the caller checked ``overwrite``) the files are moved one by one,
    replacing those of the same name and keeping the others. On an
    exception the temporary folder is removed: ``path`` keeps its previous
    files, or does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass._utils.files import atomic_folder
    >>> target = os.path.join(tempfile.mkdtemp(), 'report')
    >>> with atomic_folder(target) as tmp:
    ...     with open(os.path.join(tmp, 'a.txt'), 'w') as fh:
    ...         _ = fh.write('done')
    >>> os.listdir(target)
    ['a.txt']
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(os.path.normpath(path))
    if not os.path.isdir(parent):
        msg = f'cannot write {path!r}: the folder {parent!r} does not exist'
        raise FileNotFoundError(msg)
    tmp = tempfile.mkdtemp(prefix=f'.{base}{TEMPORARY_MARK}', dir=parent)
    try:
        yield tmp
        if os.path.isdir(path):
            _merge(tmp, path)
            os.rmdir(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

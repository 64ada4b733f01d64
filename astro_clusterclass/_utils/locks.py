"""
One run at a time on a folder: an exclusive lock, refused clearly when taken.

`exclusive_lock` takes an advisory lock (``flock`` on POSIX, ``msvcrt``
on Windows) on a lock file for the duration of a block. The operating
system drops the lock when its process ends, however it ends, so a killed
run never leaves a stale lock behind. A second process that asks for the
lock while it is held gets a `BlockingIOError` that says who holds it
(host, process id, start time), instead of waiting or interfering.
The lock file itself is left in place: removing it would let two
processes lock two different files of the same name.
"""

import contextlib
import datetime
import json
import os
import socket

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

__all__ = ['exclusive_lock']


def _try_lock(fd):
    """Lock ``fd`` without waiting; False when another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _holder(path):
    """Who holds the lock, as written in the lock file (best effort)."""
    try:
        with open(path) as fh:
            info = json.load(fh)
        return (f'process {info["pid"]} on {info["host"]}, started {info["started"]}')
    except (OSError, ValueError, KeyError, TypeError):
        return 'another process'


@contextlib.contextmanager
def exclusive_lock(path, *, what):
    """
    Hold an exclusive lock on the file ``path`` (created if needed) during the block.

    Parameters
    ----------
    path : str or path-like
        The lock file.
    what : str
        What is locked, for the message (``"output_dir '/runs/m51'"``).

    Raises
    ------
    BlockingIOError
        If another process holds the lock; the message names it and says
        what to do.
    OSError
        If the lock file cannot be created (a read-only folder: a
        `PermissionError`), with a message naming it.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass._utils.locks import exclusive_lock
    >>> lock = os.path.join(tempfile.mkdtemp(), '.lock')
    >>> with exclusive_lock(lock, what='the demo folder'):
    ...     print('only this process works here')
    only this process works here
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        msg = f'{what}: cannot create its lock file {path!r} ({exc.strerror})'
        raise type(exc)(msg) from exc
    try:
        if not _try_lock(fd):
            msg = (f'{what} is in use by another run ({_holder(path)}; lock file {path!r}); '
                   f'wait until it finishes, or use another folder')
            raise BlockingIOError(msg)
        info = {'pid': os.getpid(), 'host': socket.gethostname(),
                'started': datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec='seconds')}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock

"""
The package's own error and warning for damaged files.

`CheckpointError` is the one error of every failure to read a model
checkpoint or a training resume file (truncated, damaged, bad metadata,
wrong tensors, hash mismatch, pickled code). It is a `ValueError`, so
callers that caught ``ValueError`` keep working, and its message is one
line that names the file. `DamagedFileWarning` says that a damaged file
was found and is being replaced by recomputing its content.
"""

__all__ = ['CheckpointError', 'DamagedFileWarning', 'one_line']


def one_line(text):
    """
    ``text`` on one line: runs of whitespace (newlines, tabs) become one space.

    Examples
    --------
    >>> from astro_clusterclass._utils.errors import one_line
    >>> one_line('Error(s) in loading:\\n\\tMissing key(s)  "a"')
    'Error(s) in loading: Missing key(s) "a"'
    """
    return ' '.join(str(text).split())


class CheckpointError(ValueError):
    """
    A checkpoint or training resume file cannot be used; the message names it.

    Raised for truncated or damaged files (including a failed content
    digest or file hash), metadata that is missing or not JSON, tensors
    that do not fit the architecture, and files that hold pickled code.
    The message is always one line.

    Examples
    --------
    >>> from astro_clusterclass._utils.errors import CheckpointError
    >>> issubclass(CheckpointError, ValueError)
    True
    >>> str(CheckpointError("checkpoint 'a.safetensors' is truncated:\\n 10 bytes missing"))
    "checkpoint 'a.safetensors' is truncated: 10 bytes missing"
    """

    def __init__(self, message):
        super().__init__(one_line(message))


class DamagedFileWarning(UserWarning):
    """
    A damaged file was found and is being recomputed (the message names it).

    Examples
    --------
    >>> from astro_clusterclass._utils.errors import DamagedFileWarning
    >>> issubclass(DamagedFileWarning, UserWarning)
    True
    """

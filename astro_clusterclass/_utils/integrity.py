"""
Integrity of the files the package writes for itself: digests and zip checks.

Neither safetensors nor ``torch.load`` notices a flipped bit inside tensor
data: safetensors has no checksum, and torch does not verify the CRC-32
that its zip container stores for every member. So

- safetensors checkpoints carry a SHA-256 of their metadata and tensors
  (`content_digest`), checked when they are read;
- torch files (``torch.save`` checkpoints, training resume files) are read
  through `read_torch_file`, which verifies every member's CRC-32 with
  `zipfile` first and turns every failure into one `CheckpointError`.
"""

import hashlib
import pickle
import zipfile

from .errors import CheckpointError, one_line

__all__ = ['content_digest', 'read_torch_file', 'load_weights_only', 'torch_zip_error']


def content_digest(meta_text, tensors):
    """
    SHA-256 of a checkpoint's metadata text and tensors (names, dtypes, shapes, bytes).

    Tensors are taken in sorted name order, so the digest does not depend on
    the layout safetensors chose in the file.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass._utils.integrity import content_digest
    >>> a = content_digest('{}', {'w': torch.zeros(3), 'b': torch.ones(1)})
    >>> a == content_digest('{}', {'b': torch.ones(1), 'w': torch.zeros(3)})
    True
    >>> a == content_digest('{}', {'w': torch.zeros(3), 'b': torch.full((1,), 2.0)})
    False
    """
    import torch

    digest = hashlib.sha256(meta_text.encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f'\0{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0'.encode())
        # Bytes of any dtype (bf16 included), without a copy.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def torch_zip_error(path):
    """
    What is wrong with the zip container of a torch file, or None if every member is intact.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from astro_clusterclass._utils.integrity import torch_zip_error
    >>> path = os.path.join(tempfile.mkdtemp(), 'state.pt')
    >>> torch.save({'w': torch.zeros(4)}, path)
    >>> torch_zip_error(path) is None
    True
    >>> with open(path, 'r+b') as fh:
    ...     _ = fh.truncate(os.path.getsize(path) // 2)
    >>> torch_zip_error(path)   # doctest: +ELLIPSIS
    'it is truncated or not a zip file (...)'
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member and checks its CRC-32
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return f'it is truncated or not a zip file ({one_line(exc)})'
    if bad is not None:
        return f'its member {bad!r} fails its CRC-32 check (a damaged byte)'
    return None


def read_torch_file(path, what, *, advice='write it again (or download it again)'):
    """
    ``torch.load(path, weights_only=True)`` after checking the zip container.

    Parameters
    ----------
    path : str
        A file written by ``torch.save`` (zip format).
    what : str
        How to name the file in messages (``"checkpoint 'm.pt'"``).
    advice : str, optional
        What to do about a damaged file, ending its message.

    Raises
    ------
    CheckpointError
        If the file is truncated or damaged (a member fails its CRC-32), or
        holds pickled Python objects other than tensors and plain
        containers (never unpickled: ``weights_only=True``).
    """

    problem = torch_zip_error(path)
    if problem is not None:
        msg = f'{what} is damaged: {problem}; {advice}'
        raise CheckpointError(msg)
    return load_weights_only(
        path, what, damaged='is damaged', advice=advice,
        refusal='Save weights with astro_clusterclass.models.save_checkpoint (safetensors) '
                'instead')


def load_weights_only(path, what, *, damaged='is damaged', advice=None, refusal=None,
                      is_code=None):
    """
    ``torch.load(path, weights_only=True)``, every failure a `CheckpointError` naming ``what``.

    Parameters
    ----------
    path : str
    what : str
        How to name the file in messages.
    damaged : str, optional
        What an unreadable file is said to be (``'is truncated or damaged'``).
    advice, refusal : str, optional
        Sentences ending the message of a damaged file, and of one holding code.
    is_code : callable, optional
        ``is_code()`` says whether torch's "weights only load failed" really means
        pickled code (a truncated legacy pickle fails the same way); default: it does.
    """
    import torch

    tail = f'; {advice}' if advice else ''
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        if 'weights only load failed' in str(exc).lower() and (is_code is None or is_code()):
            msg = (f'{what} refused: it contains pickled Python objects (code), which are '
                   f'never loaded' + (f'. {refusal}' if refusal else ''))
            raise CheckpointError(msg) from exc
        msg = f'{what} {damaged}: its pickled index cannot be read ({one_line(exc)}){tail}'
        raise CheckpointError(msg) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError,
            TypeError, IndexError) as exc:
        msg = f'{what} {damaged}: torch cannot read it ({one_line(exc)}){tail}'
        raise CheckpointError(msg) from exc

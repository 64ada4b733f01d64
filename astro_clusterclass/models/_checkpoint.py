"""
Checkpoints: writing, safe reading, hash checks and loading models from any source.

A checkpoint is a safetensors file: the tensors of ``model.state_dict()``
plus a JSON copy of ``model.meta`` in the safetensors header (key
``astro_clusterclass``). Reading never unpickles Python objects:
safetensors holds tensors only, and torch files (``torch.save`` of a dict
``{'state_dict': ..., 'meta': ...}``) are read with ``weights_only=True``,
so a file that carries code is refused.
"""

import hashlib
import json
import os
import pickle
import struct
from urllib.parse import urlparse

import safetensors
import safetensors.torch
import torch

from .._utils.files import atomic_path, check_output
from ..bands import BANDS
from ..preprocessing import StampNormalization, StampTransform

__all__ = ['save_checkpoint', 'load_checkpoint', 'check_meta', 'sha256_file',
           'read_checkpoint_meta', 'fetch_checkpoint', 'REQUIRED_META']

#: Keys every weights record / checkpoint / built model must have in ``meta``.
REQUIRED_META = ('architecture', 'config', 'bands', 'cutout_size', 'normalization',
                 'categories', 'num_params', 'stem_layer')

#: Header key of the metadata in safetensors files.
META_KEY = 'astro_clusterclass'

#: Version of the checkpoint layout.
FORMAT_VERSION = 1

#: Meta keys describing a loaded file rather than the weights (not stored).
_VOLATILE_META = ('sha256', 'source', 'inference', 'weights')


def sha256_file(path):
    """
    SHA-256 hex digest of a file.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.models import sha256_file
    >>> path = os.path.join(tempfile.mkdtemp(), 'empty.txt')
    >>> open(path, 'w').close()
    >>> sha256_file(path)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(model, path, *, meta=None, overwrite=False):
    """
    Write a model's weights and metadata to a safetensors file.

    Parameters
    ----------
    model : `torch.nn.Module`
        A model from `~astro_clusterclass.models.get_model` (it has
        ``model.meta``).
    path : str or path-like
        Output file (``.safetensors``).
    meta : dict, optional
        Entries added to / replacing ``model.meta`` in the file, e.g.
        ``{'training': {...}, 'metrics': {...}, 'license': ...}``. Values
        must be JSON-serialisable.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    sha256 : str
        Hex digest of the written file (put it in the `Weights` record).

    Raises
    ------
    ValueError
        If the model has no metadata, is an inference copy, or the metadata
        is incomplete or not JSON-serialisable.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.models import get_model, save_checkpoint, load_model
    >>> model = get_model('compactnet', cutout_size=32)
    >>> path = os.path.join(tempfile.mkdtemp(), 'model.safetensors')
    >>> digest = save_checkpoint(model, path, meta={'training': {'seed': 1}})
    >>> loaded = load_model(path, sha256=digest)
    >>> loaded.meta['training'], loaded.meta['cutout_size'], loaded.meta['sha256'] == digest
    ({'seed': 1}, 32, True)
    """
    if not isinstance(getattr(model, 'meta', None), dict):
        msg = ('model has no .meta; build it with astro_clusterclass.models.get_model() '
               'so that its bands, cutout size and classes are recorded')
        raise ValueError(msg)
    if model.meta.get('inference'):
        msg = 'model is an inference copy (folded/fused/cast); save the original model'
        raise ValueError(msg)
    full = {k: v for k, v in model.meta.items() if k not in _VOLATILE_META}
    full.update(meta or {})
    full['num_params'] = sum(p.numel() for p in model.parameters())
    full['format_version'] = FORMAT_VERSION
    check_meta(full, what='meta')
    try:
        text = json.dumps(full, sort_keys=True)
    except TypeError as exc:
        msg = f'meta must be JSON-serialisable: {exc}'
        raise ValueError(msg) from exc
    path = check_output(path, overwrite=overwrite, parameter='path')
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:  # a failed write never leaves half a checkpoint
        safetensors.torch.save_file(tensors, tmp, metadata={META_KEY: text, 'format': 'pt'})
        digest = sha256_file(tmp)
    return digest


def _is_safetensors(path):
    with open(path, 'rb') as fh:
        head = fh.read(9)
    if len(head) < 9:
        return False
    (length,) = struct.unpack('<Q', head[:8])
    return head[8:9] == b'{' and 8 + length <= os.path.getsize(path)


def _is_torch_zip(path):
    with open(path, 'rb') as fh:
        return fh.read(4) == b'PK\x03\x04'


def fetch_checkpoint(source, progress=False):
    """Local path of a checkpoint file or URL (URLs are downloaded into astropy's cache)."""
    source = os.fspath(source)
    scheme = urlparse(source).scheme
    if scheme in ('http', 'https', 'ftp', 'file'):
        from urllib.error import URLError

        from astropy.utils.data import download_file
        try:
            return download_file(source, cache=True, show_progress=progress)
        except (URLError, OSError) as exc:
            msg = f'cannot download checkpoint {source!r}: {exc}'
            raise ConnectionError(msg) from exc
    if not os.path.exists(source):
        msg = f'checkpoint {source!r} does not exist'
        raise FileNotFoundError(msg)
    return source


def read_checkpoint_meta(path):
    """
    The metadata of a local safetensors checkpoint, without reading its tensors.

    Used to build the records of weights shipped with the package (their
    metadata lives in the file, once); no hash check: loading the weights
    checks the hash.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    meta : dict

    Examples
    --------
    >>> import os
    >>> from astro_clusterclass.models import WEIGHTS_DIR, read_checkpoint_meta
    >>> path = os.path.join(WEIGHTS_DIR, 'compactnet_sim_v1-63034c0f.safetensors')
    >>> meta = read_checkpoint_meta(path)
    >>> meta['architecture'], meta['cutout_size']
    ('compactnet', 32)
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        msg = f'weights file {path!r} is missing: the installation is incomplete'
        raise FileNotFoundError(msg)
    if not _is_safetensors(path):
        msg = f'{path!r} is not a safetensors file'
        raise ValueError(msg)
    with safetensors.safe_open(path, framework='pt', device='cpu') as fh:
        header = fh.metadata() or {}
    if META_KEY not in header:
        msg = f'{path!r} has no astro_clusterclass metadata'
        raise ValueError(msg)
    return _normalize_meta(json.loads(header[META_KEY]))


def load_checkpoint(source, *, sha256=None, progress=False):
    """
    Read a checkpoint's tensors and metadata safely.

    Parameters
    ----------
    source : str or path-like
        A local file, or an ``http(s)://``/``ftp://``/``file://`` URL
        (downloaded once into the astropy download cache).
    sha256 : str, optional
        Expected SHA-256 hex digest (or a prefix of at least 8 digits).
    progress : bool, optional
        Show download progress.

    Returns
    -------
    state_dict : dict of str → `torch.Tensor`
    meta : dict
        The stored metadata plus ``sha256`` (of the file) and ``source``.

    Raises
    ------
    ValueError
        If the hash differs, the file holds pickled Python objects (code),
        is neither a safetensors nor a torch zip file, or lacks metadata.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.models import get_model, load_checkpoint, save_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), 'model.safetensors')
    >>> digest = save_checkpoint(get_model('compactnet', cutout_size=16), path)
    >>> state_dict, meta = load_checkpoint(path, sha256=digest)
    >>> meta['cutout_size'], meta['sha256'] == digest, len(state_dict)
    (16, True, 44)
    >>> load_checkpoint(path, sha256='0' * 64)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...
    """
    path = fetch_checkpoint(source, progress)
    digest = sha256_file(path)
    if sha256 is not None:
        expected = str(sha256).lower()
        if len(expected) < 8 or not digest.startswith(expected):
            msg = (f'sha256 mismatch for checkpoint {os.fspath(source)!r}: expected '
                   f'{expected}, the file has {digest}; it is corrupt or not the file '
                   f'the record describes')
            if path != os.fspath(source):
                msg += (' (remove the cached download with astropy.utils.data.'
                        'clear_download_cache(url))')
            raise ValueError(msg)
    if _is_safetensors(path):
        with safetensors.safe_open(path, framework='pt', device='cpu') as fh:
            header = fh.metadata() or {}
            state_dict = {k: fh.get_tensor(k) for k in fh.keys()}
        if META_KEY not in header:
            msg = (f'checkpoint {os.fspath(source)!r} has no astro_clusterclass metadata '
                   f'(write it with astro_clusterclass.models.save_checkpoint)')
            raise ValueError(msg)
        meta = json.loads(header[META_KEY])
    elif _is_torch_zip(path):
        try:
            blob = torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError as exc:
            msg = (f'checkpoint {os.fspath(source)!r} refused: it contains pickled Python '
                   f'objects (code), which are never loaded. Save weights with '
                   f'astro_clusterclass.models.save_checkpoint (safetensors) instead')
            raise ValueError(msg) from exc
        if not (isinstance(blob, dict) and isinstance(blob.get('state_dict'), dict)
                and isinstance(blob.get('meta'), dict)):
            msg = (f'checkpoint {os.fspath(source)!r} is a torch file without '
                   f'astro_clusterclass metadata: expected a dict with "state_dict" and '
                   f'"meta" (or use save_checkpoint)')
            raise ValueError(msg)
        state_dict, meta = blob['state_dict'], blob['meta']
    else:
        msg = (f'checkpoint {os.fspath(source)!r} is neither a safetensors file nor a '
               f'torch zip file; legacy pickle files are refused because unpickling '
               f'can run code')
        raise ValueError(msg)
    meta = _normalize_meta(meta)
    meta['sha256'] = digest
    meta['source'] = os.fspath(source)
    return state_dict, meta


def _normalize_meta(meta):
    # Files written before the naming rule (the bundled SIM_V1 among them) store
    # 'licence'; the file stays as it is (its hash is its identity), the key is renamed.
    meta = dict(meta)
    if 'licence' in meta and 'license' not in meta:
        meta['license'] = meta.pop('licence')
    return meta


def check_meta(meta, *, expected=None, cutout_size=None, categories=None, what='checkpoint'):
    """
    Check a model's metadata against the package and against expectations.

    Parameters
    ----------
    meta : dict
        Metadata of a checkpoint or model.
    expected : dict, optional
        A weights record's meta: architecture, config, bands, cutout size,
        categories and normalisation must agree.
    cutout_size : int, optional
        Required stamp size.
    categories : sequence of int, optional
        Required output classes, in order.
    what : str, optional
        How to call the object in error messages.

    Raises
    ------
    ValueError
        On missing keys or any disagreement; the message names the key.

    Examples
    --------
    >>> from astro_clusterclass.models import check_meta, get_model
    >>> model = get_model('compactnet', cutout_size=16)
    >>> check_meta(model.meta, cutout_size=16)
    >>> check_meta(model.meta, cutout_size=32)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint has cutout size 16, expected 32
    """
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        msg = f'{what} metadata lacks {missing}; required keys: {list(REQUIRED_META)}'
        raise ValueError(msg)
    if list(meta['bands']) != list(BANDS):
        msg = (f'{what} was made for bands {list(meta["bands"])}, but astro_clusterclass '
               f'provides {list(BANDS)} in that order')
        raise ValueError(msg)
    StampNormalization.from_dict(meta['normalization'])
    StampTransform.from_meta(meta)  # a transform, if recorded, must agree with the rest
    wanted = dict(expected or {})
    if cutout_size is not None:
        wanted['cutout_size'] = cutout_size
    if categories is not None:
        wanted['categories'] = list(categories)
    for key in ('architecture', 'config', 'bands', 'cutout_size', 'categories',
                'normalization'):
        if key in wanted:
            have, want = meta[key], wanted[key]
            if isinstance(want, (list, tuple)):
                have, want = list(have), list(want)
            if have != want:
                name = {'cutout_size': 'cutout size', 'categories': 'classes'}.get(key, key)
                msg = f'{what} has {name} {have!r}, expected {want!r}'
                raise ValueError(msg)

"""
Checkpoints: writing, safe reading, hash checks and loading models from any source.

A checkpoint is a safetensors file: the tensors of ``model.state_dict()``
plus a JSON copy of ``model.meta`` in the safetensors header (key
``astro_clusterclass``) and a SHA-256 of both (key
``astro_clusterclass_digest``), checked on reading. Reading never unpickles
Python objects: safetensors holds tensors only, and torch files
(``torch.save`` of a dict ``{'state_dict': ..., 'meta': ...}``) are read
with ``weights_only=True`` after their zip CRCs are checked, so a file
that carries code is refused.

Every failure to read a checkpoint (truncated, damaged, metadata missing
or not JSON, a hash that differs, tensors that do not fit) is one
`CheckpointError` (a `ValueError`) whose message is one line naming the
file. A file whose name carries a hash prefix, as torchvision names its
weights (``compactnet_sim_v1-63034c0f.safetensors``), is checked against
it.
"""

import hashlib
import json
import os
import re
import struct
from urllib.parse import unquote, urlparse

import safetensors
import safetensors.torch
import torch

from .._utils.errors import CheckpointError, one_line
from .._utils.files import atomic_path, check_output
from .._utils.integrity import content_digest, read_torch_file
from ..bands import BANDS
from ..preprocessing import StampNormalization, StampTransform

__all__ = ['save_checkpoint', 'load_checkpoint', 'check_meta', 'sha256_file',
           'read_checkpoint_meta', 'fetch_checkpoint', 'name_hash', 'CheckpointError',
           'REQUIRED_META']

#: Keys every weights record / checkpoint / built model must have in ``meta``.
REQUIRED_META = ('architecture', 'config', 'bands', 'cutout_size', 'normalization',
                 'categories', 'num_params', 'stem_layer')

#: Header key of the metadata in safetensors files.
META_KEY = 'astro_clusterclass'

#: Header key of the SHA-256 of the metadata text and the tensors.
DIGEST_KEY = 'astro_clusterclass_digest'

#: A hash prefix in a file name, as torchvision writes it: ``name-<hex>.<ext>``.
_NAME_HASH = re.compile(r'-([0-9a-f]{8,64})\.[A-Za-z0-9]+$')

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
    metadata = {META_KEY: text, DIGEST_KEY: content_digest(text, tensors), 'format': 'pt'}
    with atomic_path(path) as tmp:  # a failed write never leaves half a checkpoint
        try:
            safetensors.torch.save_file(tensors, tmp, metadata=metadata)
        except safetensors.SafetensorError as exc:  # a full disk, a file-size limit
            msg = f'cannot write checkpoint {path!r}: {one_line(exc)}'
            raise OSError(msg) from exc
        _sort_metadata(tmp)
        digest = sha256_file(tmp)
    return digest


def _sort_metadata(path):
    """
    Rewrite a safetensors header with its metadata keys in sorted order.

    safetensors writes the metadata map in a random order, so saving the
    same model twice gave files with different hashes. The sorted header
    has the same length (the same entries), so it is written in place.
    """
    with open(path, 'r+b') as fh:
        (length,) = struct.unpack('<Q', fh.read(8))
        header = json.loads(fh.read(length))
        header['__metadata__'] = dict(sorted(header.get('__metadata__', {}).items()))
        text = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode()
        if len(text) <= length:
            fh.seek(8)
            fh.write(text.ljust(length, b' '))


def _kind(path, what):
    """
    ``'safetensors'``, ``'torch'`` (zip) or None for other files.

    A file that starts as a safetensors file but is shorter than its header
    says is a truncated checkpoint, not another kind of file.
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as fh:
        head = fh.read(9)
    if head[:4] == b'PK\x03\x04':
        return 'torch'
    if len(head) == 9 and head[8:9] == b'{':
        (length,) = struct.unpack('<Q', head[:8])
        if 8 + length > size:
            msg = (f'{what} is truncated: its header says {length} bytes, the file holds '
                   f'{size - 8} after the length field')
            raise CheckpointError(msg)
        return 'safetensors'
    if size < 9:
        msg = f'{what} is truncated or empty: {size} bytes'
        raise CheckpointError(msg)
    return None


def name_hash(source):
    """
    The hash prefix in a checkpoint's file name (``name-<8-64 hex digits>.<ext>``), or None.

    As torchvision names its weights files. A suffix of decimal digits only
    (a date, a version: ``model-20240101.safetensors``) is not taken for a
    hash.

    Examples
    --------
    >>> from astro_clusterclass.models._checkpoint import name_hash
    >>> name_hash('weights/compactnet_sim_v1-63034c0f.safetensors')
    '63034c0f'
    >>> name_hash('https://example.org/m-0a1b2c3d4e.safetensors?download=1')
    '0a1b2c3d4e'
    >>> name_hash('model-20240101.safetensors') is None, name_hash('model.pt') is None
    (True, True)
    """
    text = os.fspath(source)
    if urlparse(text).scheme in ('http', 'https', 'ftp', 'file'):
        text = unquote(urlparse(text).path)
    match = _NAME_HASH.search(os.path.basename(text))
    if match is None or match.group(1).isdigit():
        return None
    return match.group(1)


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

    Raises
    ------
    CheckpointError
        If the file is not a safetensors file, is damaged, or its
        metadata is missing or not JSON.

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
    what = f'checkpoint {path!r}'
    if _kind(path, what) != 'safetensors':
        msg = f'{what} is not a safetensors file'
        raise CheckpointError(msg)
    try:
        with safetensors.safe_open(path, framework='pt', device='cpu') as fh:
            header = fh.metadata() or {}
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as exc:
        msg = f'{what} is damaged or truncated: safetensors cannot read it ({one_line(exc)})'
        raise CheckpointError(msg) from exc
    return _parse_meta(header, what)


def _parse_meta(header, what):
    """The metadata dict in a safetensors header, or a `CheckpointError`."""
    if META_KEY not in header:
        msg = (f'{what} has no astro_clusterclass metadata (write it with '
               f'astro_clusterclass.models.save_checkpoint)')
        raise CheckpointError(msg)
    try:
        meta = json.loads(header[META_KEY])
    except ValueError as exc:
        msg = f'{what}: its metadata is not valid JSON, the file is damaged ({one_line(exc)})'
        raise CheckpointError(msg) from exc
    if not isinstance(meta, dict):
        msg = f'{what}: its metadata is a JSON {type(meta).__name__}, not an object'
        raise CheckpointError(msg)
    return _normalize_meta(meta)


def _read_safetensors(data, what, *, check_digest=True):
    """
    Tensors and metadata of a safetensors checkpoint read into memory (``data``).

    The tensors are built from ``data``, the bytes whose SHA-256 was taken:
    copies, not views of a memory map of the file, so a file rewritten or
    cut in place later neither changes a loaded model nor crashes the
    process (SIGBUS). The content digest is checked unless
    ``check_digest=False``: the whole file's SHA-256 was just verified
    against an expected value, which covers every byte already.
    """
    try:
        state_dict = safetensors.torch.load(data)
        (length,) = struct.unpack('<Q', data[:8])
        header = json.loads(data[8:8 + length]).get('__metadata__') or {}
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as exc:
        msg = f'{what} is damaged or truncated: safetensors cannot read it ({one_line(exc)})'
        raise CheckpointError(msg) from exc
    meta = _parse_meta(header, what)
    stored = header.get(DIGEST_KEY)
    # Files written before the digest existed (the bundled SIM_V1 among them)
    # are checked by their hash alone.
    if check_digest and stored is not None and \
            stored != content_digest(header[META_KEY], state_dict):
        msg = (f'{what} is damaged: its tensors or metadata differ from the digest written '
               f'with them (a changed byte); write or download it again')
        raise CheckpointError(msg)
    return state_dict, meta


def _read_torch(path, what):
    """Tensors and metadata of a torch zip checkpoint (CRCs checked, no code run)."""
    blob = read_torch_file(path, what)
    if not (isinstance(blob, dict) and isinstance(blob.get('state_dict'), dict)
            and isinstance(blob.get('meta'), dict)):
        msg = (f'{what} is a torch file without astro_clusterclass metadata: expected a '
               f'dict with "state_dict" and "meta" (or use save_checkpoint)')
        raise CheckpointError(msg)
    return blob['state_dict'], _normalize_meta(blob['meta'])


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
    CheckpointError
        A `ValueError`, if the hash differs (the one given, or the prefix
        in the file name), the file is truncated or damaged (its content
        digest or zip CRCs fail), holds pickled Python objects (code), is
        neither a safetensors nor a torch zip file, its metadata is
        missing or not JSON, or a tensor holds NaN or infinite values. The
        message is one line naming the file.
    FileNotFoundError
        If the file does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.models import get_model, load_checkpoint, save_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), 'model.safetensors')
    >>> digest = save_checkpoint(get_model('compactnet', cutout_size=16), path)
    >>> state_dict, meta = load_checkpoint(path, sha256=digest)
    >>> meta['cutout_size'], meta['sha256'] == digest, len(state_dict)
    (16, True, 44)
    >>> try:
    ...     load_checkpoint(path, sha256='0' * 64)
    ... except ValueError as exc:        # a CheckpointError
    ...     print(type(exc).__name__, str(exc)[:30])
    CheckpointError sha256 mismatch for checkpoint
    """
    path = fetch_checkpoint(source, progress)
    what = f'checkpoint {os.fspath(source)!r}'
    kind = _kind(path, what)
    if kind == 'safetensors':
        # Read once: the hash and the tensors come from the same bytes.
        with open(path, 'rb') as fh:
            data = fh.read()
        digest = hashlib.sha256(data).hexdigest()
    else:
        digest = sha256_file(path)
    cached = (' (remove the cached download with astropy.utils.data.clear_download_cache(url))'
              if path != os.fspath(source) else '')
    if sha256 is not None:
        expected = str(sha256).lower()
        if len(expected) < 8 or not digest.startswith(expected):
            msg = (f'sha256 mismatch for {what}: expected {expected}, the file has {digest}; '
                   f'it is corrupt or not the file the record describes{cached}')
            raise CheckpointError(msg)
    named = name_hash(source)
    if named is not None and not digest.startswith(named):
        msg = (f'sha256 mismatch for {what}: its file name carries the hash prefix {named}, '
               f'the file has {digest}; it is damaged or not the file its name says{cached}')
        raise CheckpointError(msg)
    if kind == 'safetensors':
        verified = sha256 is not None or named is not None
        state_dict, meta = _read_safetensors(data, what, check_digest=not verified)
    elif kind == 'torch':
        state_dict, meta = _read_torch(path, what)
    else:
        msg = (f'{what} is neither a safetensors file nor a torch zip file; legacy pickle '
               f'files are refused because unpickling can run code')
        raise CheckpointError(msg)
    check_finite_tensors(state_dict, what)
    meta['sha256'] = digest
    meta['source'] = os.fspath(source)
    return state_dict, meta


def check_finite_tensors(state_dict, what):
    """Refuse a state dict with NaN or infinite values (a diverged or damaged model)."""
    bad = [name for name, tensor in state_dict.items()
           if torch.is_tensor(tensor) and torch.is_floating_point(tensor)
           and not bool(torch.isfinite(tensor).all())]
    if bad:
        more = f' and {len(bad) - 3} more' if len(bad) > 3 else ''
        msg = (f'{what} has non-finite (NaN or infinite) values in {len(bad)} tensor(s): '
               f'{", ".join(bad[:3])}{more}; a diverged or damaged model would give no '
               f'meaningful class, so it is refused')
        raise CheckpointError(msg)


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

"""
Importing PyTorch checkpoints trained elsewhere into checkpoints of this package.

A model trained by another group is a plain state dict (``torch.save(
model.state_dict(), 'model.pth')``): tensors without a word about the
bands, the stamp, the normalisation or the classes. `import_checkpoint`
reads it safely (``weights_only=True``: a file that pickles code is
refused, never executed), fits it strictly to a registered architecture,
checks the numbers of bands and classes against the tensors, and writes a
safetensors checkpoint whose metadata carries all of that plus where the
weights came from (the source file's SHA-256), the transform the model
needs, its citation and its licence. StarcNet's published weights import
with its preprocessing built in.
"""

import datetime
import os
import pickletools
import struct

import numpy as np
import safetensors
import safetensors.torch
import torch

from .._utils.errors import CheckpointError, one_line
from .._utils.files import check_output
from .._utils.integrity import load_weights_only, read_torch_file
from .._utils.validation import check_float, check_int
from .._version import __version__
from ..bands import BANDS, normalize_band
from ..classes import CLASSES
from ..preprocessing import StampNormalization, StampTransform
from ._api import get_model, list_models
from ._checkpoint import check_finite_tensors, save_checkpoint, sha256_file
from ._loading import _tensor_problems
from .starcnet import (STARCNET_CITATION, STARCNET_LICENSE, STARCNET_SHIFT, STARCNET_URL,
                       starcnet_normalization)

__all__ = ['import_checkpoint', 'read_state_dict']

#: Keys under which training scripts commonly nest the state dict.
_CONTAINER_KEYS = ('state_dict', 'model_state_dict', 'model', 'net')

#: The classifier layer of each architecture (its rows are the classes).
_HEADS = {'starcnet': 'fc2', 'resnet18': 'fc', 'vgg19_bn': 'classifier.6',
          'compactnet': 'fc'}

#: Default centring rule of imported models other than StarcNet: the nearest pixel.
_DEFAULT_SHIFT = 0.5


def _file_kind(path):
    with open(path, 'rb') as fh:
        head = fh.read(9)
    if head[:4] == b'PK\x03\x04':
        return 'torch zip'
    if len(head) == 9 and head[8:9] == b'{':
        return 'safetensors'
    if head[:1] == b'\x80':
        return 'torch legacy'
    return None


def _legacy_truncated(path):
    """
    True when a pre-1.6 torch file ends inside one of its five leading pickles.

    `pickletools.genops` only parses opcodes (nothing is unpickled), so a
    file cut short is told apart from one whose pickle names code. A file
    that ends between two pickles is not truncated by this test.
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as fh:
        try:
            for _ in range(5):  # magic number, protocol, system info, object, storage keys
                if fh.tell() >= size:
                    return False
                for opcode, _arg, _pos in pickletools.genops(fh):
                    if opcode.name == 'STOP':
                        break
                else:
                    return True
        except ValueError:  # "pickle exhausted before seeing STOP" and the like
            return True
    return False


def _load_blob(path, kind, what):
    """The object stored in the file, never running pickled code."""
    if kind == 'torch zip':
        return read_torch_file(path, what)
    if kind == 'safetensors':
        with open(path, 'rb') as fh:
            (length,) = struct.unpack('<Q', fh.read(8))
        if 8 + length > os.path.getsize(path):
            msg = f'{what} is truncated: its safetensors header says {length} bytes'
            raise CheckpointError(msg)
        try:
            return safetensors.torch.load_file(path, device='cpu')
        except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as exc:
            msg = f'{what} is damaged: safetensors cannot read it ({one_line(exc)})'
            raise CheckpointError(msg) from exc
    # The pickle format of torch before 1.6 (no zip container, no CRCs).
    return load_weights_only(path, what, damaged='is truncated or damaged',
                             refusal='Only tensors and plain containers are read',
                             is_code=lambda: not _legacy_truncated(path))


def _is_state_dict(obj):
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj)


def read_state_dict(path):
    """
    The tensors of a PyTorch state-dict file, read without running code.

    Parameters
    ----------
    path : str or path-like
        A ``torch.save`` file (zip or pre-1.6 format) of a state dict, or of
        a dict holding one under ``'state_dict'``, ``'model_state_dict'``,
        ``'model'`` or ``'net'``; or a safetensors file of tensors.

    Returns
    -------
    state_dict : dict of str → `torch.Tensor`
        With a ``module.`` prefix common to every name (``DataParallel``)
        removed.
    info : dict
        ``format``, ``container_key`` (or None), ``removed_prefix`` (or
        None), ``other_keys`` (entries besides the state dict, e.g. the
        epoch).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CheckpointError
        A `ValueError` naming the file: it pickles Python objects (code,
        never executed), is truncated or damaged, is not a torch or
        safetensors file, or holds no state dict.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from astro_clusterclass.models import read_state_dict
    >>> path = os.path.join(tempfile.mkdtemp(), 'net.pth')
    >>> torch.save({'epoch': 3, 'state_dict': {'module.fc.weight': torch.zeros(4, 2)}}, path)
    >>> state_dict, info = read_state_dict(path)
    >>> list(state_dict), info['container_key'], info['removed_prefix'], info['other_keys']
    (['fc.weight'], 'state_dict', 'module.', ['epoch'])
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        msg = f'checkpoint {path!r} does not exist'
        raise FileNotFoundError(msg)
    what = f'checkpoint {path!r}'
    if os.path.getsize(path) == 0:
        msg = f'{what} is empty (0 bytes)'
        raise CheckpointError(msg)
    kind = _file_kind(path)
    if kind is None:
        msg = (f'{what} is neither a torch file (torch.save) nor a safetensors file; a '
               f'truncated or damaged download, or another format')
        raise CheckpointError(msg)
    blob = _load_blob(path, kind, what)
    container, others = None, []
    if _is_state_dict(blob) and not all(torch.is_tensor(v) for v in blob.values()):
        for key in _CONTAINER_KEYS:
            if _is_state_dict(blob.get(key)):
                container = key
                others = sorted(k for k in blob if k != key)
                blob = blob[key]
                break
    if not _is_state_dict(blob):
        msg = (f'{what} holds a {type(blob).__name__}, not a state dict (a dict of tensor '
               f'names to tensors)')
        raise CheckpointError(msg)
    odd = [k for k, v in blob.items() if not torch.is_tensor(v)]
    if odd:
        more = f' and {len(odd) - 3} more' if len(odd) > 3 else ''
        msg = (f'{what}: the state dict has entries that are not tensors: '
               f'{", ".join(odd[:3])}{more}')
        raise CheckpointError(msg)
    prefix = None
    if all(k.startswith('module.') for k in blob):
        prefix = 'module.'
        blob = {k[len(prefix):]: v for k, v in blob.items()}
    return dict(blob), {'format': kind, 'container_key': container, 'removed_prefix': prefix,
                        'other_keys': others}


def _stems(meta):
    return list(meta.get('stem_layers') or [meta['stem_layer']])


def _head(architecture, model):
    if architecture in _HEADS:
        return _HEADS[architecture]
    linear = [name for name, module in model.named_modules()
              if isinstance(module, torch.nn.Linear)]
    return linear[-1]


def _check_bands(bands, *, source):
    """The input bands in the file's order, as band slots."""
    if bands is None:
        if source == 'starcnet':
            return list(BANDS)
        msg = (f'bands: give the bands of the input channels of the {source} model, in '
               f'order (e.g. {list(BANDS)}); nothing in a state dict says them')
        raise ValueError(msg)
    if isinstance(bands, str):
        bands = [bands]
    names = [normalize_band(b, parameter='bands') for b in bands]
    if len(names) != len(BANDS):
        msg = (f'bands: {len(names)} band(s) given ({list(bands)}); the package classifies '
               f'the five bands {list(BANDS)}')
        raise ValueError(msg)
    if sorted(names) != sorted(BANDS):
        msg = (f'bands: {list(bands)} are not the five bands {list(BANDS)} (each once, in '
               f'any order)')
        raise ValueError(msg)
    return names


def _read_mean_file(mean_file):
    path = os.fspath(mean_file)
    if not os.path.isfile(path):
        msg = f'mean_file: {path!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        values = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        msg = (f'mean_file: {path!r} is not a numpy .npy file of numbers (pickled objects '
               f'are never loaded): {one_line(exc)}')
        raise ValueError(msg) from exc
    if not isinstance(values, np.ndarray) or values.dtype.kind not in 'fiu':
        msg = f'mean_file: {path!r} does not hold an array of numbers'
        raise ValueError(msg)
    values = values.astype(float).ravel()
    if values.size != len(BANDS) or not np.all(np.isfinite(values)):
        msg = (f'mean_file: {path!r} holds {values.size} value(s) {values.tolist()[:8]}; '
               f'expected {len(BANDS)} finite offsets, one per band')
        raise ValueError(msg)
    return values.tolist()


def _normalization(normalization, mean_file, *, source):
    """The normalisation in the order of the file's bands, and its provenance."""
    if normalization is not None and mean_file is not None:
        msg = ('give normalization= or mean_file= (per-band offsets, StarcNet-style), '
               'not both')
        raise ValueError(msg)
    if mean_file is not None:
        return starcnet_normalization(_read_mean_file(mean_file)), os.fspath(mean_file)
    if normalization is None:
        if source == 'starcnet':
            return starcnet_normalization(), "StarcNet's data/mean.npy"
        msg = (f'normalization: give the input normalisation the {source} model was trained '
               f"with (a StampNormalization, its dict, or a method name: 'asinh', 'robust', "
               f"'none'; 'standard' needs mean and std); nothing in a state dict says it")
        raise ValueError(msg)
    if isinstance(normalization, str):
        normalization = {'method': normalization}
    if isinstance(normalization, dict):
        normalization = StampNormalization.from_dict(normalization)
    if not isinstance(normalization, StampNormalization):
        msg = (f'normalization must be a StampNormalization, its dict or a method name, '
               f'got {type(normalization).__name__}')
        raise TypeError(msg)
    return normalization, 'given'


def _reorder_normalization(norm, order):
    """``norm`` with its per-band values moved from the file's band order to BANDS."""
    if norm.method != 'standard':
        return norm
    return StampNormalization('standard', mean=[norm.params['mean'][i] for i in order],
                              std=[norm.params['std'][i] for i in order])


def import_checkpoint(path, *, source, output, bands=None, cutout_size=None,
                      normalization=None, mean_file=None, shift=None, config=None,
                      trained_on=None, description=None, license=None, citation=None,
                      overwrite=False):
    """
    Turn a PyTorch checkpoint trained elsewhere into a checkpoint of this package.

    Parameters
    ----------
    path : str or path-like
        The file: a ``torch.save`` of a state dict (zip or pre-1.6 format),
        possibly nested under ``'state_dict'``/``'model_state_dict'``/
        ``'model'``, or a safetensors file of tensors. It is read with
        ``torch.load(weights_only=True)``: pickled code is refused, never
        run.
    source : str
        What it is: ``'starcnet'`` (StarcNet's published
        ``model/starcnet.pth``) or another registered architecture
        (``'resnet18'``, ``'vgg19_bn'``, ``'compactnet'``; see
        `~astro_clusterclass.models.list_models`).
    output : str or path-like
        The safetensors checkpoint to write (atomically).
    bands : sequence of 5 str, optional
        The bands of the input channels, in the file's order (filters or
        band slots; ``F435W`` and ``F606W`` take the B and V slots). The
        stem is reordered to the package's band order. Default for
        StarcNet: F275W, F336W, F435W/F438W, F555W/F606W, F814W; required
        for other sources.
    cutout_size : int, optional
        Stamp side the model was trained on. StarcNet: 32 (fixed);
        required for other sources.
    normalization : `~astro_clusterclass.preprocessing.StampNormalization`, dict or str, optional
        The input normalisation it was trained with (per-band values in
        the order of ``bands``). Default for StarcNet: its offsets
        (`~astro_clusterclass.models.STARCNET_MEAN`); required for other
        sources unless ``mean_file`` is given.
    mean_file : str or path-like, optional
        A numpy ``.npy`` file of five per-band offsets subtracted from the
        raw pixels (StarcNet's ``data/mean.npy``); replaces
        ``normalization``.
    shift : float, optional
        Centring rule of the stamps (see
        `~astro_clusterclass.preprocessing.StampTransform`): StarcNet's
        1.0 by default for StarcNet (its stamps are cut at the truncated
        1-based LEGUS positions), else 0.5 (the nearest pixel).
    config : dict, optional
        Builder keywords fixing the architecture (e.g. ``widths`` of
        ``compactnet``).
    trained_on : {'real', 'simulations'}, optional
        What the weights were trained on (StarcNet: ``'real'``, the LEGUS
        human classes). A model marked ``'simulations'`` warns when it
        classifies images that are not simulated.
    description, license, citation : str, optional
        Recorded in the metadata (StarcNet's are filled in).
    overwrite : bool, optional
        Replace an existing ``output``.

    Returns
    -------
    sha256 : str
        SHA-256 of the written checkpoint (pass it to
        `~astro_clusterclass.models.load_model` to check the file).

    Raises
    ------
    FileNotFoundError
        If ``path`` (or ``mean_file``) does not exist.
    CheckpointError
        A `ValueError` naming the file: it pickles code, is truncated or
        damaged, holds no state dict, has missing or unexpected tensors,
        tensors of the wrong shape, another number of bands or classes, or
        NaN/infinite values.
    ValueError
        If an option is missing or invalid (the message names it).
    FileExistsError
        If ``output`` exists and ``overwrite`` is False.

    Examples
    --------
    A state dict saved as StarcNet saves its own (random weights here):

    >>> import os, tempfile, torch
    >>> from astro_clusterclass.models import (StarcNet, import_checkpoint, load_model,
    ...                                        sha256_file)
    >>> work = tempfile.mkdtemp()
    >>> pth = os.path.join(work, 'starcnet.pth')
    >>> torch.save(StarcNet().state_dict(), pth)
    >>> digest = import_checkpoint(pth, source='starcnet',
    ...                            output=os.path.join(work, 'starcnet.safetensors'))
    >>> model = load_model(os.path.join(work, 'starcnet.safetensors'), sha256=digest)
    >>> model.meta['architecture'], model.meta['trained_on'], model.meta['transform']['shift']
    ('starcnet', 'real', 1.0)
    >>> model.meta['import']['source_sha256'] == sha256_file(pth)
    True
    """
    names = list_models()
    if source not in names:
        msg = f'source={source!r} is not a registered architecture; expected one of {names}'
        raise ValueError(msg)
    path = os.fspath(path)
    what = f'checkpoint {path!r}'
    check_output(output, overwrite=overwrite, parameter='output')
    file_bands = _check_bands(bands, source=source)
    if source == 'starcnet':
        if cutout_size is not None and cutout_size != 32:
            msg = f'cutout_size={cutout_size!r}: StarcNet takes 32 px stamps only'
            raise ValueError(msg)
        cutout_size = 32
    elif cutout_size is None:
        msg = (f'cutout_size: give the stamp side (pixels) the {source} model was trained '
               f'on; nothing in a state dict says it')
        raise ValueError(msg)
    cutout_size = check_int(cutout_size, 'cutout_size', minimum=8)
    norm, norm_from = _normalization(normalization, mean_file, source=source)
    if shift is None:
        shift = STARCNET_SHIFT if source == 'starcnet' else _DEFAULT_SHIFT
    shift = check_float(shift, 'shift', minimum=-cutout_size, maximum=cutout_size)
    if trained_on is None and source == 'starcnet':
        trained_on = 'real'
    if trained_on not in (None, 'real', 'simulations'):
        msg = f"trained_on must be 'real', 'simulations' or None, got {trained_on!r}"
        raise ValueError(msg)
    config = dict(config or {})
    for key in ('weights', 'weights_backbone', 'num_classes', 'cutout_size', 'normalization'):
        if key in config:
            msg = f'config: {key!r} is set by import_checkpoint itself, not through config'
            raise ValueError(msg)

    source_sha256 = sha256_file(path) if os.path.isfile(path) else None
    state_dict, info = read_state_dict(path)
    check_finite_tensors(state_dict, what)

    order = [file_bands.index(b) for b in BANDS]   # file channel of each package band
    norm = _reorder_normalization(norm, order)
    try:
        with torch.device('meta'):
            model = get_model(source, num_classes=len(CLASSES), cutout_size=cutout_size,
                              normalization=norm, **config)
    except TypeError as exc:
        msg = f'config: {source} does not take these keywords ({one_line(exc)})'
        raise ValueError(msg) from exc
    meta = model.meta

    head = _head(source, model)
    weight = state_dict.get(f'{head}.weight')
    if weight is not None and weight.ndim == 2 and weight.shape[0] != len(CLASSES):
        msg = (f'{what}: its classifier {head} has {weight.shape[0]} outputs, but the '
               f'classes {list(CLASSES)} need {len(CLASSES)}; this is not a four-class model')
        raise CheckpointError(msg)
    for stem in _stems(meta):
        weight = state_dict.get(f'{stem}.weight')
        if weight is not None and weight.ndim == 4 and weight.shape[1] != len(BANDS):
            msg = (f'{what}: its first convolution {stem} takes {weight.shape[1]} input '
                   f'channel(s) (bands), but the package classifies the {len(BANDS)} bands '
                   f'{list(BANDS)}')
            raise CheckpointError(msg)
    problem = _tensor_problems(model, state_dict)
    if problem:
        msg = f'{what} does not fit the {source} architecture: {problem}'
        raise CheckpointError(msg)

    dtypes = sorted({str(t.dtype).replace('torch.', '') for t in state_dict.values()})
    tensors = {}
    for name, tensor in state_dict.items():
        tensor = tensor.float() if tensor.is_floating_point() else tensor
        if name in (f'{stem}.weight' for stem in _stems(meta)) and order != list(
                range(len(BANDS))):
            tensor = tensor[:, order].contiguous()
        tensors[name] = tensor
    model.load_state_dict(tensors, strict=True, assign=True)

    transform = StampTransform(cutout_size, normalization=norm, shift=shift)
    extra = {
        'transform': transform.to_dict(),
        'trained_on': trained_on,
        'init': f'imported:{source}',
        'import': {
            'function': 'astro_clusterclass.models.import_checkpoint',
            'source': source, 'file': os.path.basename(path), 'source_sha256': source_sha256,
            'format': info['format'], 'container_key': info['container_key'],
            'removed_prefix': info['removed_prefix'], 'other_keys': info['other_keys'],
            'dtypes': dtypes, 'bands_in_file': file_bands, 'normalization_from': norm_from,
            'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'astro_clusterclass': __version__},
        'training': {'trained_elsewhere': True},
    }
    if source == 'starcnet':
        extra.update({
            'description': description or (
                'StarcNet (Pérez et al. 2021) with the weights its authors trained on the '
                'human visual classes of LEGUS galaxies, imported from their published '
                'model/starcnet.pth; its preprocessing (32 px stamps at the truncated 1-based '
                'positions, raw e-/s minus one offset per band) is the transform.'),
            'license': license or STARCNET_LICENSE,
            'citation': citation or STARCNET_CITATION,
            'url': STARCNET_URL,
        })
        extra['training'].update({'data': {
            'description': ('LEGUS star-cluster candidates with human visual classes '
                            '(Pérez et al. 2021); real HST images')}})
    else:
        default = f'{source} weights imported from {os.path.basename(path)}'
        extra.update({'description': description or default,
                      'license': license or 'unknown (not stated when imported)',
                      'citation': citation})
    return save_checkpoint(model, output, meta=extra, overwrite=overwrite)

"""
Loading models from any source, through one dispatch.

A model source is a module built by `~astro_clusterclass.models.get_model`,
a member of a weights enum, a `~astro_clusterclass.models.Weights` record,
a checkpoint file or URL, or a registry name (``'CompactNet_Weights.SIM_V1'``
or ``'compactnet'`` for its ``DEFAULT`` weights). `resolve_source` says
which, once; `load_model` builds the network from it and `model_reference`
turns it into a `ModelReference` that another process (a Dask worker) can
load and prove to be the same file by its SHA-256.
"""

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from ._api import (REAL_DATA_RECIPE, Weights, WeightsEnum, get_model, get_model_weights,
                   get_weight, list_models, load_state_dict_strict, resolve_location)
from .._utils.errors import CheckpointError
from ._checkpoint import check_meta, fetch_checkpoint, load_checkpoint, sha256_file

__all__ = ['load_model', 'resolve_source', 'model_reference', 'ModelReference']

_URL_SCHEMES = ('http', 'https', 'ftp', 'file')


def _known_weights():
    return [f'{enum.__name__}.{m}' for name in list_models()
            for enum in [get_model_weights(name)] for m in enum.__members__]


def resolve_source(source):
    """
    What a model source is: ``(kind, value)``.

    Parameters
    ----------
    source : str, path-like, `WeightsEnum` member, `Weights` or `torch.nn.Module`

    Returns
    -------
    kind : {'module', 'weights', 'record', 'file'}
        A built model, a weights enum member, a weights record, or a
        checkpoint file path / URL.
    value
        The model, the enum member (registry names resolve to one), the
        record, or the path / URL as a string.

    Raises
    ------
    ValueError
        If a string is neither a file, a URL nor a registered name (the
        message lists the registered weights and models), or names a model
        without trained weights.
    TypeError
        For any other type.

    Examples
    --------
    >>> from astro_clusterclass.models import resolve_source
    >>> resolve_source('compactnet')
    ('weights', CompactNet_Weights.SIM_V1)
    >>> resolve_source('https://example.org/model.safetensors')[0]
    'file'
    """
    if isinstance(source, nn.Module):
        return 'module', source
    if isinstance(source, WeightsEnum):
        return 'weights', source
    if isinstance(source, Weights):
        return 'record', source
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if urlparse(text).scheme in _URL_SCHEMES or os.path.exists(text):
            return 'file', text
        if '.' in text and os.sep not in text:
            try:
                return 'weights', get_weight(text)
            except ValueError:
                pass
        if text.lower() in list_models():
            enum = get_model_weights(text)
            if 'DEFAULT' not in enum.__members__:
                msg = (f'models: {text!r} has no trained weights yet ({enum.__name__} has '
                       f'no DEFAULT); build random weights with get_model({text!r}) or '
                       f'pass a checkpoint file. {REAL_DATA_RECIPE}')
                raise ValueError(msg)
            return 'weights', enum.DEFAULT
        msg = (f'unknown model {text!r}: not a file, a URL, a registered weights name '
               f'({_known_weights() or "none registered yet"}) or a registered model '
               f'({list_models()})')
        raise ValueError(msg)
    msg = (f'models: cannot load a model from {type(source).__name__}; give a registry '
           f'name, a checkpoint file or URL, a Weights record or a model from get_model()')
    raise TypeError(msg)


def _tensor_problems(model, state_dict):
    """Missing, unexpected and misshapen tensors of a checkpoint (one line), or None."""
    have = model.state_dict()
    missing = [k for k in have if k not in state_dict]
    unexpected = [k for k in state_dict if k not in have]
    shapes = [f'{k} has shape {tuple(state_dict[k].shape)}, the architecture '
              f'{tuple(v.shape)}' for k, v in have.items()
              if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    parts = []
    for label, names in (('missing', missing), ('unexpected', unexpected),
                         ('of the wrong shape', shapes)):
        if names:
            more = f' and {len(names) - 4} more' if len(names) > 4 else ''
            parts.append(f'{len(names)} tensor(s) {label}: {", ".join(names[:4])}{more}')
    return '; '.join(parts) or None


def _from_file(source, *, sha256, cutout_size, categories, expected, progress):
    state_dict, meta = load_checkpoint(source, sha256=sha256, progress=progress)
    what = f'checkpoint {os.fspath(source)!r}'
    try:  # the file's own metadata: incomplete or invalid means an unusable file
        check_meta(meta, what=what)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(str(exc) if what in str(exc) else f'{what}: {exc}') from exc
    # A sound file made for another stamp size or other classes than asked for
    # is the caller's mismatch, not a damaged file: a plain ValueError.
    check_meta(meta, expected=expected, cutout_size=cutout_size, categories=categories,
               what=what)
    if meta['architecture'] not in list_models():
        msg = (f'{what} is for architecture {meta["architecture"]!r}, not one of '
               f'{list_models()}')
        raise CheckpointError(msg)
    try:
        with torch.device('meta'):
            model = get_model(meta['architecture'], **meta['config'],
                              cutout_size=meta['cutout_size'],
                              normalization=meta['normalization'])
    except (ValueError, TypeError) as exc:
        msg = f'{what}: its metadata does not describe a model this package builds ({exc})'
        raise CheckpointError(msg) from exc
    problems = _tensor_problems(model, state_dict)
    if problems:
        msg = f'{what}: tensors do not match the architecture ({problems})'
        raise CheckpointError(msg)
    try:
        load_state_dict_strict(model, state_dict, source=what)
    except ValueError as exc:  # e.g. a dtype torch cannot assign
        raise CheckpointError(str(exc)) from exc
    meta['num_params'] = sum(p.numel() for p in model.parameters())
    model.meta = meta
    return model


def load_model(source, *, sha256=None, cutout_size=None, categories=None, progress=False):
    """
    A ready model from a registry name, weights record, file, URL or module.

    Parameters
    ----------
    source : str, path-like, `WeightsEnum` member, `Weights` or `torch.nn.Module`
        - a registered weights name (``'CompactNet_Weights.DEFAULT'``) or
          model name (its ``DEFAULT`` weights),
        - a checkpoint file or URL (astropy download cache),
        - a weights record or a member of a weights enum,
        - a model built by `~astro_clusterclass.models.get_model`
          (returned as is, in eval mode, after the checks).
    sha256 : str, optional
        Expected hash of a file or URL (records carry their own).
    cutout_size, categories : optional
        Required values; a model made for others is refused.
    progress : bool, optional
        Show download progress.

    Returns
    -------
    model : `torch.nn.Module`
        In eval mode, with ``model.meta`` (including ``sha256`` of the file).

    Raises
    ------
    ValueError
        If the source is unknown (the message lists the registered models
        and weights).
    CheckpointError
        A `ValueError`: if the file fails its hash or safety checks, is
        truncated or damaged, its metadata is missing, invalid or not JSON,
        its tensors do not fit the architecture, or it was made for other
        bands; one line naming the file. A model made for another cutout
        size or other classes than asked for, or than its record says, is
        a plain `ValueError`.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.models import get_model, load_model, save_checkpoint
    >>> load_model('CompactNet_Weights.DEFAULT').meta['cutout_size']   # the bundled model
    32
    >>> path = os.path.join(tempfile.mkdtemp(), 'model.safetensors')
    >>> digest = save_checkpoint(get_model('resnet18', cutout_size=32), path)
    >>> model = load_model(path, sha256=digest, cutout_size=32)
    >>> model.meta['architecture'], model.training
    ('resnet18', False)
    """
    kind, value = resolve_source(source)
    if kind == 'module':
        meta = getattr(value, 'meta', None)
        if not isinstance(meta, dict):
            msg = ('models: a torch module without .meta; build it with '
                   'astro_clusterclass.models.get_model() or load_model()')
            raise ValueError(msg)
        check_meta(meta, cutout_size=cutout_size, categories=categories,
                   what=f'model {meta.get("architecture", type(value).__name__)!r}')
        return value.eval()
    if kind == 'weights':
        model = get_model(value.meta['architecture'], weights=value, progress=progress)
        check_meta(model.meta, cutout_size=cutout_size, categories=categories, what=repr(value))
        return model.eval()
    if kind == 'record':
        return _from_file(resolve_location(value.url), sha256=value.sha256,
                          cutout_size=cutout_size, categories=categories,
                          expected=value.meta, progress=progress).eval()
    return _from_file(value, sha256=sha256, cutout_size=cutout_size, categories=categories,
                      expected=None, progress=progress).eval()


@dataclass(frozen=True)
class ModelReference:
    """
    A model as another process loads it: what to pass to `load_model`, and its hash.

    Attributes
    ----------
    loadable : str or `Weights`
        An absolute file path, a URL, a registered weights name or a record.
    source : str
        How the model is named in results and messages.
    sha256 : str
        SHA-256 of the weights file; the loading process checks it.

    Examples
    --------
    >>> from astro_clusterclass.models import model_reference
    >>> ref = model_reference('compactnet')
    >>> ref.loadable, ref.sha256[:8]
    ('CompactNet_Weights.SIM_V1', '63034c0f')
    """

    loadable: Any
    source: str
    sha256: str


def model_reference(source, *, progress=False):
    """
    The `ModelReference` of a model source (files and URLs are hashed here).

    Raises
    ------
    TypeError
        For modules: other processes cannot load an object of this one;
        the message says to save it with
        `~astro_clusterclass.models.save_checkpoint`.
    ValueError
        As `resolve_source`.

    Examples
    --------
    >>> from astro_clusterclass.models import get_model, model_reference
    >>> model_reference(get_model('compactnet'))   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: models: other processes load the models themselves ...
    """
    kind, value = resolve_source(source)
    if kind == 'module':
        msg = ('models: other processes load the models themselves and modules are not '
               'shipped to them; save the model with astro_clusterclass.models.'
               'save_checkpoint and pass the file (or a URL or a registered weights name)')
        raise TypeError(msg)
    if kind == 'weights':
        # The name travels (the other process resolves it in its own
        # registry) and the hash proves both sides mean the same file.
        name = f'{type(value).__name__}.{value.name}'
        return ModelReference(name, name, value.sha256)
    if kind == 'record':
        return ModelReference(value, value.url, value.sha256)
    if urlparse(value).scheme in _URL_SCHEMES:
        return ModelReference(value, value, sha256_file(fetch_checkpoint(value, progress)))
    path = os.path.abspath(value)
    return ModelReference(path, path, sha256_file(path))

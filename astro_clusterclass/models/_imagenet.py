"""ImageNet weights through torchvision's weights API, with an offline-friendly error."""

import os
import socket
from urllib.parse import urlparse

import torch

__all__ = ['imagenet_state_dict', 'torch_cache_path']


def torch_cache_path(tv_weights):
    """Where torchvision keeps (and looks for) the file of ``tv_weights``."""
    name = os.path.basename(urlparse(tv_weights.url).path)
    return os.path.join(torch.hub.get_dir(), 'checkpoints', name)


def _reachable(url, timeout=3.0):
    """True if the host of ``url`` answers within ``timeout`` seconds."""
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def imagenet_state_dict(tv_enum, name, *, progress=True):
    """
    Torchvision's ImageNet state dict for ``tv_enum[name]``.

    The file comes from the torch hub cache (``$TORCH_HOME/hub/checkpoints``)
    or is downloaded there (hash-checked by torchvision). It is read with
    ``weights_only=True``. Without network access and without the cached
    file, a `ConnectionError` says where to put the file.

    Returns
    -------
    state_dict : dict
    tv_weights : torchvision WeightsEnum member
    """
    key = 'DEFAULT' if str(name).upper() == 'IMAGENET' else name
    try:
        tv_weights = tv_enum.verify(key)
    except (KeyError, TypeError) as exc:
        msg = (f'weights_backbone={name!r} is not one of the torchvision weights '
               f'{list(tv_enum.__members__)}')
        raise ValueError(msg) from exc
    cached = torch_cache_path(tv_weights)
    if not os.path.exists(cached) and not _reachable(tv_weights.url):
        msg = (f'cannot download the ImageNet weights {tv_weights!r} (no network). '
               f'On a machine with network access download {tv_weights.url} and put the '
               f'file at {cached} (the torch hub cache: $TORCH_HOME/hub/checkpoints, '
               f'TORCH_HOME defaulting to ~/.cache/torch); torchvision then reads it '
               f'from there.')
        raise ConnectionError(msg)
    return tv_weights.get_state_dict(progress=progress, check_hash=True,
                                     weights_only=True), tv_weights

"""
Inference copies of models: folded, fused, cast, channels-last.

`prepare_for_inference` never changes the model it is given: it builds a
separate module that computes the same function (up to rounding) faster:

- VGG: adaptive pool + first linear layer folded for the stamp size
  (`~astro_clusterclass.models.vgg.fold_classifier`), dropout removed;
- batch norm folded into the preceding convolution
  (``torch.fx.experimental.optimization.fuse``);
- weights cast to the compute dtype (casting the weights once beats
  autocast, which re-casts them on every call);
- channels-last memory layout for convolutions.
"""

import copy

import torch
import torchvision
from torch import nn
from torch.fx.experimental.optimization import fuse

from .vgg import FoldedVGG, fold_classifier

__all__ = ['prepare_for_inference']


def _fused(module):
    """Conv+BN fused copy of ``module`` (eval mode), or a plain copy if untraceable."""
    module = copy.deepcopy(module).eval()
    try:
        return fuse(module, inplace=True)
    except Exception:  # noqa: BLE001 - fx cannot trace every model; fusion is optional
        return module


def prepare_for_inference(model, *, input_size, device='cpu', dtype=torch.float32,
                          channels_last=True):
    """
    A fast, separate inference copy of ``model``.

    Parameters
    ----------
    model : `torch.nn.Module`
        A model with ``meta`` (from `~astro_clusterclass.models.get_model`
        or `~astro_clusterclass.models.load_model`).
    input_size : int
        Stamp side the copy will see (VGG folding is size-specific).
    device : str or `torch.device`, optional
    dtype : `torch.dtype`, optional
        Compute dtype (``torch.float32`` or ``torch.bfloat16``).
    channels_last : bool, optional
        Use the channels-last memory format.

    Returns
    -------
    module : `torch.nn.Module`
        In eval mode, with ``meta`` (``meta['inference']`` is True).

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.models import get_model, prepare_for_inference
    >>> model = get_model('vgg19_bn', cutout_size=32).eval()
    >>> fast = prepare_for_inference(model, input_size=32)
    >>> type(fast).__name__, fast.meta['inference']
    ('FoldedVGG', True)
    >>> x = torch.randn(2, 5, 32, 32)
    >>> with torch.no_grad():
    ...     same = torch.allclose(model(x), fast(x.contiguous(memory_format=torch.channels_last)),
    ...                           atol=1e-3)
    >>> same
    True
    """
    meta = copy.deepcopy(getattr(model, 'meta', {}))
    if isinstance(model, torchvision.models.VGG):
        was_training = model.training
        model.eval()
        try:
            folded = fold_classifier(model, input_size)
        finally:
            model.train(was_training)
        if isinstance(folded, FoldedVGG):
            head = [copy.deepcopy(layer) for layer in folded.classifier
                    if not isinstance(layer, nn.Dropout)]
            module = FoldedVGG(_fused(model.features), nn.Sequential(*head), input_size)
        else:
            module = _fused(model)
    else:
        module = _fused(model)
    module = module.eval().to(device=device, dtype=dtype)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    for param in module.parameters():
        param.requires_grad_(False)
    meta['inference'] = True
    module.meta = meta
    return module

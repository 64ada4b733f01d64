"""
VGG19 with batch normalisation (Simonyan & Zisserman 2014), five-band stem, four-class head.

torchvision's VGG pools the last feature map to 7 × 7 before a
``Linear(512 * 49, 4096)`` layer. Below 224 px the feature map is smaller
than 7 × 7 (2 × 2 at 64 px) and the adaptive pool only replicates and
averages it, which is a fixed linear map ``P``. `fold_classifier` folds
``P`` into the first linear layer once (``W' = W P``), exactly, so that
inference multiplies a 2 048-vector instead of a 25 088-vector.
Training uses the same folded form (4.2 M instead of 103 M weights in the
first layer, several times faster on a CPU) and `unfold_classifier` writes
the result back into torchvision's layout (``W = W' P⁺``, exact because
``P`` has full row rank), so checkpoints keep the standard architecture.
"""

import copy

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from ..bands import BANDS
from ._api import (WeightsEnum, attach_meta, build_with_weights, register_model,
                   settings_from, split_weights)
from ._imagenet import imagenet_state_dict
from ._stem import adapt_input_conv, stem_adaptation_meta

__all__ = ['VGG19_BN_Weights', 'vgg19_bn', 'FoldedVGG', 'fold_classifier', 'unfold_classifier']


class VGG19_BN_Weights(WeightsEnum):
    """
    Trained five-band weights of `vgg19_bn` (members are added as they are trained).

    Examples
    --------
    >>> from astro_clusterclass.models import VGG19_BN_Weights
    >>> list(VGG19_BN_Weights)   # none trained yet
    []
    """


def _stem(out_channels=64):
    return nn.Conv2d(len(BANDS), out_channels, kernel_size=3, padding=1)


@register_model(weights=VGG19_BN_Weights)
def vgg19_bn(*, weights=None, weights_backbone=None, progress=True, num_classes=None,
             cutout_size=None, normalization=None):
    """
    VGG19-BN for five-band stamps (torchvision's, stem and head replaced).

    Parameters are those of `~astro_clusterclass.models.resnet18`; the stem
    is ``features.0`` and the replaced head ``classifier.6``. Use
    `fold_classifier` (done by `~astro_clusterclass.classify.classify_table`)
    for fast inference on stamps below 224 px.

    Returns
    -------
    model : `torchvision.models.VGG`
        With ``model.meta``.

    Examples
    --------
    >>> from astro_clusterclass.models import vgg19_bn
    >>> model = vgg19_bn(cutout_size=32)
    >>> model.features[0].in_channels, model.classifier[6].out_features, model.meta['stem_layer']
    (5, 4, 'features.0')
    """
    weights, weights_backbone = split_weights(weights, weights_backbone, 'vgg19_bn')
    categories, cutout_size, normalization = settings_from(
        weights, num_classes=num_classes, cutout_size=cutout_size, normalization=normalization)

    def build():
        model = torchvision.models.vgg19_bn(weights=None, num_classes=len(categories))
        model.features[0] = _stem()
        nn.init.kaiming_normal_(model.features[0].weight, mode='fan_out', nonlinearity='relu')
        nn.init.zeros_(model.features[0].bias)
        return model

    adaptation, init = None, 'random'
    if weights is not None:
        model = build_with_weights(build, weights, progress)
    elif weights_backbone is not None:
        state_dict, tv_weights = imagenet_state_dict(
            torchvision.models.VGG19_BN_Weights, weights_backbone, progress=progress)
        model = torchvision.models.vgg19_bn(weights=None)
        model.load_state_dict(state_dict, strict=True)
        old = model.features[0]
        stem = _stem(old.out_channels)
        stem.weight.data.copy_(adapt_input_conv(old.weight.data))
        stem.bias.data.copy_(old.bias.data)
        model.features[0] = stem
        model.classifier[6] = nn.Linear(model.classifier[6].in_features, len(categories))
        adaptation, init = stem_adaptation_meta(), f'imagenet:{tv_weights!r}'
    else:
        model = build()
    return attach_meta(model, architecture='vgg19_bn', config={'num_classes': len(categories)},
                       categories=categories, cutout_size=cutout_size,
                       normalization=normalization, stem_layer='features.0', init=init,
                       stem_adaptation=adaptation, weights=weights)


class FoldedVGG(nn.Module):
    """
    A VGG whose adaptive pool and first linear layer are one small linear layer.

    Built by `fold_classifier`; valid for one input size only (``input_size``).

    Examples
    --------
    >>> from astro_clusterclass.models import FoldedVGG, fold_classifier, vgg19_bn
    >>> folded = fold_classifier(vgg19_bn(cutout_size=32).eval(), 32)
    >>> isinstance(folded, FoldedVGG), folded.input_size
    (True, 32)
    """

    def __init__(self, features, classifier, input_size):
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.input_size = input_size

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def _pool_matrix(pool, height, width, dtype):
    """``(h*w, P)`` matrix of the adaptive pool: pooled = flat_map @ matrix."""
    n = height * width
    eye = torch.eye(n, dtype=dtype).view(n, 1, height, width)
    return F.adaptive_avg_pool2d(eye, pool.output_size).reshape(n, -1)


def fold_classifier(model, input_size):
    """
    Fold a VGG's adaptive pool into its first linear layer for one input size.

    Parameters
    ----------
    model : `torchvision.models.VGG`
        The network (any VGG of torchvision, in eval mode for inference).
    input_size : int
        Stamp side in pixels the folded model will be used with.

    Returns
    -------
    folded : `FoldedVGG` or the input ``model``
        A model computing the same function for ``input_size`` inputs with
        a ``(out, C * h * w)`` first layer; it shares ``features`` and the
        later classifier layers with ``model`` (copy it before changing
        dtypes). When the feature map is at least as large as the pool
        output (>= 224 px) folding saves nothing and ``model`` is returned.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.models import fold_classifier, vgg19_bn
    >>> model = vgg19_bn(cutout_size=32).eval()
    >>> folded = fold_classifier(model, 32)
    >>> folded.classifier[0].in_features, model.classifier[0].in_features
    (512, 25088)
    >>> x = torch.randn(2, 5, 32, 32)
    >>> with torch.no_grad():
    ...     torch.allclose(model(x), folded(x), atol=1e-4)
    True
    """
    if not isinstance(model, torchvision.models.VGG):
        msg = f'model must be a torchvision VGG, got {type(model).__name__}'
        raise TypeError(msg)
    first = model.classifier[0]
    param = next(model.features.parameters())
    was_training = model.features.training
    try:
        with torch.no_grad():
            probe = torch.zeros(1, model.features[0].in_channels, input_size, input_size,
                                dtype=param.dtype, device=param.device)
            channels, height, width = model.features.eval()(probe).shape[1:]
    finally:
        model.features.train(was_training)
    pool = model.avgpool
    matrix = _pool_matrix(pool, height, width, param.dtype).to(param.device)
    if height * width >= matrix.shape[1]:
        return model
    with torch.no_grad():
        weight = first.weight.view(first.out_features, channels, matrix.shape[1])
        folded_weight = torch.einsum('ocp,kp->ock', weight, matrix)
        layer = nn.Linear(channels * height * width, first.out_features,
                          bias=first.bias is not None, dtype=param.dtype, device=param.device)
        layer.weight.copy_(folded_weight.reshape(first.out_features, -1))
        if first.bias is not None:
            layer.bias.copy_(first.bias)
    classifier = nn.Sequential(layer, *list(model.classifier)[1:])
    folded = FoldedVGG(model.features, classifier, input_size)
    folded.train(model.training)
    if hasattr(model, 'meta'):
        folded.meta = copy.deepcopy(model.meta)
    return folded


def unfold_classifier(folded, model):
    """
    Write a folded first linear layer back into ``model`` (the inverse of `fold_classifier`).

    The minimum-norm ``W`` with ``W P = W'`` (``W = W' P⁺``; for a 1 × 1
    feature map every one of the 49 pooled copies gets ``W' / 49``), so
    ``model`` computes exactly the function of ``folded`` at its input size.

    Parameters
    ----------
    folded : `FoldedVGG`
        Made by `fold_classifier` from ``model`` (features and later
        classifier layers are shared with it, so only the first layer is
        written).
    model : `torchvision.models.VGG`

    Returns
    -------
    model : `torchvision.models.VGG`
        The same object, updated in place.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.models import get_model, fold_classifier, unfold_classifier
    >>> model = get_model('vgg19_bn', cutout_size=32).eval()
    >>> folded = fold_classifier(model, 32)
    >>> with torch.no_grad():
    ...     _ = folded.classifier[0].weight.mul_(2.0)   # "training" in folded form
    ...     x = torch.randn(2, 5, 32, 32)
    ...     expected = folded(x)
    ...     got = unfold_classifier(folded, model)(x)
    >>> bool(torch.allclose(got, expected, atol=1e-5))
    True
    """
    if not isinstance(folded, FoldedVGG) or not isinstance(model, torchvision.models.VGG):
        msg = 'unfold_classifier needs a FoldedVGG and the torchvision VGG it was folded from'
        raise TypeError(msg)
    first = model.classifier[0]
    layer = folded.classifier[0]
    param = first.weight
    with torch.no_grad():
        probe = torch.zeros(1, model.features[0].in_channels, folded.input_size,
                            folded.input_size, dtype=param.dtype, device=param.device)
        was_training = model.features.training
        channels, height, width = model.features.eval()(probe).shape[1:]
        model.features.train(was_training)
        matrix = _pool_matrix(model.avgpool, height, width, torch.float64)
        inverse = torch.linalg.pinv(matrix).to(param.dtype).to(param.device)  # (P, h*w)
        weight = layer.weight.view(layer.out_features, channels, height * width)
        first.weight.copy_(torch.einsum('ock,pk->ocp', weight, inverse).reshape_as(first.weight))
        if first.bias is not None:
            first.bias.copy_(layer.bias)
    return model

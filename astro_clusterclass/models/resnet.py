"""ResNet18 (He et al. 2016) with a five-band stem and a four-class head, from torchvision."""

import torchvision
from torch import nn

from ..bands import BANDS
from ._api import (Weights, WeightsEnum, attach_meta, build_with_weights,  # noqa: F401
                   register_model, settings_from, split_weights)
from ._imagenet import imagenet_state_dict
from ._stem import adapt_input_conv, stem_adaptation_meta

__all__ = ['ResNet18_Weights', 'resnet18']


class ResNet18_Weights(WeightsEnum):
    """
    Trained five-band weights of `resnet18` (members are added as they are trained).

    Examples
    --------
    >>> from astro_clusterclass.models import ResNet18_Weights
    >>> list(ResNet18_Weights)   # none trained yet
    []
    """


def _stem(out_channels=64):
    return nn.Conv2d(len(BANDS), out_channels, kernel_size=7, stride=2, padding=3, bias=False)


@register_model(weights=ResNet18_Weights)
def resnet18(*, weights=None, weights_backbone=None, progress=True, num_classes=None,
             cutout_size=None, normalization=None):
    """
    ResNet18 for five-band stamps (torchvision's, stem and head replaced).

    Parameters
    ----------
    weights : `ResNet18_Weights` member or str, optional
        Trained five-band weights (``'DEFAULT'`` or a member name). `None`
        gives random weights, ``'IMAGENET'`` is shorthand for
        ``weights_backbone='IMAGENET1K_V1'``.
    weights_backbone : str, optional
        torchvision ImageNet weights to start from (``'IMAGENET1K_V1'``):
        loaded through torchvision's weights API, their RGB stem ``conv1``
        adapted to five bands (`~astro_clusterclass.models.adapt_input_conv`)
        and the 1000-class ``fc`` replaced by a new head.
    progress : bool, optional
        Show download progress.
    num_classes : int, optional
        Output classes (default: the four classes of the scheme).
    cutout_size : int, optional
        Stamp side the model is meant for (recorded in ``meta``; ResNet
        itself accepts any size >= 32).
    normalization : `~astro_clusterclass.preprocessing.StampNormalization` or dict, optional
        Input normalisation recorded in ``meta``.

    Returns
    -------
    model : `torchvision.models.ResNet`
        With ``model.meta``; the stem is ``conv1``.

    Examples
    --------
    >>> from astro_clusterclass.models import resnet18
    >>> model = resnet18(cutout_size=32)   # random weights; get_model('resnet18') is the same
    >>> model.conv1.in_channels, model.fc.out_features, model.meta['stem_layer']
    (5, 4, 'conv1')
    """
    weights, weights_backbone = split_weights(weights, weights_backbone, 'resnet18')
    categories, cutout_size, normalization = settings_from(
        weights, num_classes=num_classes, cutout_size=cutout_size, normalization=normalization)

    def build():
        model = torchvision.models.resnet18(weights=None, num_classes=len(categories))
        model.conv1 = _stem()
        nn.init.kaiming_normal_(model.conv1.weight, mode='fan_out', nonlinearity='relu')
        return model

    adaptation, init = None, 'random'
    if weights is not None:
        model = build_with_weights(build, weights, progress)
    elif weights_backbone is not None:
        state_dict, tv_weights = imagenet_state_dict(
            torchvision.models.ResNet18_Weights, weights_backbone, progress=progress)
        model = torchvision.models.resnet18(weights=None)
        model.load_state_dict(state_dict, strict=True)
        stem = _stem(model.conv1.out_channels)
        stem.weight.data.copy_(adapt_input_conv(model.conv1.weight.data))
        model.conv1 = stem
        model.fc = nn.Linear(model.fc.in_features, len(categories))
        adaptation, init = stem_adaptation_meta(), f'imagenet:{tv_weights!r}'
    else:
        model = build()
    return attach_meta(model, architecture='resnet18', config={'num_classes': len(categories)},
                       categories=categories, cutout_size=cutout_size,
                       normalization=normalization, stem_layer='conv1', init=init,
                       stem_adaptation=adaptation, weights=weights)

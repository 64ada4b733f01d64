"""
CompactNet: a small CPU-friendly network for five-band stamps.

Four stages of 3 × 3 convolutions (batch norm, ReLU), the first at full
resolution so that 2-5 px cluster profiles are seen before any
down-sampling, then stride-2 stages. The head joins a global average (the
surroundings) with the average of the central third of the last feature
map (the candidate itself) before one linear layer. About 0.1 GFLOP per
64 px stamp, 30 times less than VGG19-BN.
"""

import torch
from torch import nn
from torch.nn import functional as F

from ..bands import BANDS
from ._checkpoint import read_checkpoint_meta
from ._api import (WEIGHTS_DIR, Weights, WeightsEnum, attach_meta, build_with_weights,
                   register_model, settings_from, split_weights)

__all__ = ['CompactNet', 'CompactNet_Weights', 'compactnet']


def _conv_bn_relu(cin, cout, stride=1):
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CompactNet(nn.Module):
    """
    The compact network (see the module docstring).

    Parameters
    ----------
    in_channels : int
        Input bands.
    num_classes : int
        Outputs.
    widths : sequence of int
        Channels of the full-resolution stem and of each stride-2 stage.
    dropout : float
        Dropout before the linear head (training only).

    Examples
    --------
    Built by ``get_model('compactnet')``, which adds the metadata:

    >>> import torch
    >>> from astro_clusterclass.models import CompactNet
    >>> net = CompactNet().eval()
    >>> sum(p.numel() for p in net.parameters())
    295660
    >>> with torch.no_grad():
    ...     net(torch.zeros(1, 5, 32, 32)).shape
    torch.Size([1, 4])
    """

    def __init__(self, in_channels=len(BANDS), num_classes=4, widths=(24, 32, 64, 128),
                 dropout=0.2):
        super().__init__()
        widths = [int(w) for w in widths]
        layers = _conv_bn_relu(in_channels, widths[0])
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += _conv_bn_relu(cin, cout, stride=2) + _conv_bn_relu(cout, cout)
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * widths[-1], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x):
        x = self.features(x)
        surroundings = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        centre = F.adaptive_avg_pool2d(x, 3)[:, :, 1, 1]
        return self.fc(self.dropout(torch.cat([surroundings, centre], dim=1)))


def _bundled(filename, sha256):
    """The record of a weights file shipped in ``WEIGHTS_DIR`` (its metadata is in the file)."""
    return Weights(url=filename, sha256=sha256,
                   meta=read_checkpoint_meta(WEIGHTS_DIR / filename))


class CompactNet_Weights(WeightsEnum):
    """
    Trained weights of `compactnet`.

    ``SIM_V1`` (= ``DEFAULT``, the package's default model) was trained by
    ``scripts/train_bundled_model.py`` with
    `~astro_clusterclass.training.train_model` on eight simulated
    five-band fields (`~astro_clusterclass.datasets.make_cluster_field`,
    6-15 Mpc), 32 px stamps. **It has seen simulations only**, never a
    real HST image: use it on simulated fields, for tests and demos, or as
    a start for fine-tuning on human classifications. Its metadata holds
    the training data, settings and the accuracies on held-out simulated
    fields (``CompactNet_Weights.DEFAULT.meta['metrics']``).

    ``SIM_V2`` is the same network and recipe trained on fields of the
    ``'legus'`` simulator preset, whose measured candidates match the LEGUS
    catalogues of NGC 1566 and NGC 628 (``docs/realism.rst``); on held-out
    fields of that preset it scores 0.92-0.94 (``SIM_V1``: 0.87-0.92), on
    ``'v1'`` fields 0.84-0.87 (``SIM_V1``: 0.95-0.97). Its metadata holds
    both models' scores on the same held-out fields
    (``meta['metrics']['heldout_fields_compared']``).

    Examples
    --------
    >>> from astro_clusterclass.models import CompactNet_Weights, get_model
    >>> CompactNet_Weights.DEFAULT
    CompactNet_Weights.SIM_V1
    >>> CompactNet_Weights.SIM_V2.meta['training']['simulator_preset']
    'legus'
    >>> model = get_model('compactnet', weights='DEFAULT')
    >>> model.meta['cutout_size'], model.meta['num_params']
    (32, 295660)
    """

    SIM_V1 = _bundled('compactnet_sim_v1-63034c0f.safetensors',
                      '63034c0f71c651c50197d69a2eb677a5376052910b35aa0a7358bd20edfda579')
    SIM_V2 = _bundled('compactnet_sim_v2-1a75ec56.safetensors',
                      '1a75ec560a53c82d81651de44cb4d890784ba28d5eeb75f289c7a01b9a142379')
    DEFAULT = SIM_V1


@register_model(weights=CompactNet_Weights)
def compactnet(*, weights=None, weights_backbone=None, progress=True, num_classes=None,
               cutout_size=None, normalization=None, widths=(24, 32, 64, 128), dropout=0.2):
    """
    Build a `CompactNet`.

    Parameters are those of `~astro_clusterclass.models.resnet18` (there
    are no ImageNet weights: ``weights_backbone`` must be `None`) plus
    ``widths`` and ``dropout`` of `CompactNet`.

    Returns
    -------
    model : `CompactNet`
        With ``model.meta``; the stem is ``features.0``.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.models import get_model
    >>> model = get_model('compactnet').eval()
    >>> model.meta['cutout_size'], model.meta["num_params"] < 400_000
    (32, True)
    >>> model(torch.zeros(3, 5, 64, 64)).shape
    torch.Size([3, 4])
    """
    weights, weights_backbone = split_weights(weights, weights_backbone, 'compactnet')
    if weights_backbone is not None:
        msg = 'weights_backbone: compactnet has no ImageNet weights; use weights=None'
        raise ValueError(msg)
    categories, cutout_size, normalization = settings_from(
        weights, num_classes=num_classes, cutout_size=cutout_size, normalization=normalization)
    config = {'num_classes': len(categories), 'widths': [int(w) for w in widths],
              'dropout': float(dropout)}
    if weights is not None:
        # The record fixes the architecture.
        config = dict(weights.meta['config'])

    def build():
        return CompactNet(num_classes=len(categories), widths=config['widths'],
                          dropout=config['dropout'])

    model = build_with_weights(build, weights, progress) if weights is not None else build()
    return attach_meta(model, architecture='compactnet', config=config, categories=categories,
                       cutout_size=cutout_size, normalization=normalization,
                       stem_layer='features.0', init='random', weights=weights)

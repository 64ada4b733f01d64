"""
StarcNet (Pérez et al. 2021, ApJ 907, 100): the LEGUS-trained three-branch network.

StarcNet classifies 32 × 32 px five-band stamps (F275W, F336W,
F435W/F438W, F555W/F606W, F814W) of raw drizzled pixel values minus one
fixed mean per band. It looks at the candidate at three scales: the whole
stamp, its central 20 × 20 px and its central 11 × 11 px, the two crops
upsampled back to 32 × 32 (nearest neighbour). Each scale goes through its
own branch of seven 3 × 3 convolutions of 128 channels (group norm, leaky
ReLU, a 2 × 2 max-pool after the fourth) and a 128-unit linear layer; the
three 128-vectors are joined and mapped to the four classes.

The module and parameter names are those of the published checkpoint
(``model/starcnet.pth`` of the repository gperezs/StarcNet, a plain
``torch.save`` of the state dict): the branches' layers are ``conv1``,
``bn1``, ..., ``fc1``, ``bn13``, prefixed ``a`` (20 px crop) and ``aa``
(11 px crop), and the head is ``fc2``, so the state dict loads strictly.
The weights are not distributed with this package (their licence is the
repository's, GPL-3.0); `~astro_clusterclass.models.import_checkpoint`
turns the downloaded file into a checkpoint of this package, with
StarcNet's preprocessing as its transform (:data:`STARCNET_MEAN`, stamps
centred as StarcNet cuts them, see :data:`STARCNET_SHIFT`).
"""

import torch
from torch import nn
from torch.nn import functional as F

from ..bands import BANDS
from ..preprocessing import StampNormalization, StampTransform
from ._api import (WeightsEnum, attach_meta, build_with_weights, register_model,
                   settings_from, split_weights)

__all__ = ['StarcNet', 'StarcNet_Weights', 'starcnet', 'STARCNET_MEAN', 'STARCNET_SHIFT',
           'STARCNET_CITATION', 'STARCNET_LICENSE', 'STARCNET_URL', 'starcnet_normalization']

#: Per-band offsets StarcNet subtracts from the raw pixel values (e⁻/s), in
#: band order: the contents of ``data/mean.npy`` of its repository (float64).
STARCNET_MEAN = (0.02376737085711172, 0.13796898991372922, 0.14457472840383698,
                 0.25429259936146564, 0.3901880480545905)

#: Centring rule of StarcNet's stamps (`~astro_clusterclass.preprocessing.StampTransform`
#: ``shift``): it cuts ``data[int(y)-16:int(y)+16, int(x)-16:int(x)+16]``
#: with the 1-based LEGUS positions, i.e. the stamp is centred (index 16)
#: on pixel ``floor(x + 1)`` of a 0-based position ``x``.
STARCNET_SHIFT = 1.0

#: Where the published weights are (``model/starcnet.pth``).
STARCNET_URL = 'https://github.com/gperezs/StarcNet'

#: Reference of the network and of its trained weights.
STARCNET_CITATION = ('Pérez, G., Messa, M., Calzetti, D., et al. 2021, ApJ, 907, 100, '
                     '"StarcNet: Machine Learning for Star Cluster Identification", '
                     'doi:10.3847/1538-4357/abceba')

#: Licence of the repository that publishes the weights.
STARCNET_LICENSE = 'GPL-3.0 (the license of the StarcNet repository, gperezs/StarcNet)'

#: Stamp side, and the crops of the second and third branches (start, stop).
_SIZE = 32
_CROPS = {'': None, 'a': (6, 26), 'aa': (11, 22)}

#: Convolutions of each branch, in order; the max-pool follows ``conv7``.
_CONVS = (1, 3, 4, 7, 8, 11, 12)
_POOL_AFTER = 7
_WIDTH = 128
_GROUPS = 8


def starcnet_normalization(mean=STARCNET_MEAN):
    """
    StarcNet's input normalisation: raw pixels minus one offset per band.

    Parameters
    ----------
    mean : sequence of 5 float, optional
        The offsets, in band order (default :data:`STARCNET_MEAN`).

    Returns
    -------
    normalization : `~astro_clusterclass.preprocessing.StampNormalization`
        ``'standard'`` with ``std`` 1 in every band.

    Examples
    --------
    >>> from astro_clusterclass.models import starcnet_normalization
    >>> norm = starcnet_normalization()
    >>> norm.method, norm.params['std'], round(norm.params['mean'][4], 5)
    ('standard', [1.0, 1.0, 1.0, 1.0, 1.0], 0.39019)
    """
    return StampNormalization('standard', mean=mean, std=[1.0] * len(BANDS))


class StarcNet(nn.Module):
    """
    The StarcNet network (see the module docstring), with its published layer names.

    Parameters
    ----------
    num_classes : int, optional
        Outputs of ``fc2``.
    in_channels : int, optional
        Input bands.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.models import StarcNet
    >>> net = StarcNet().eval()
    >>> sum(p.numel() for p in net.parameters())
    15265156
    >>> sorted(net.state_dict())[:3]
    ['aabn1.bias', 'aabn1.weight', 'aabn11.bias']
    >>> with torch.no_grad():
    ...     net(torch.zeros(2, 5, 32, 32)).shape
    torch.Size([2, 4])
    """

    def __init__(self, num_classes=4, in_channels=len(BANDS)):
        super().__init__()
        for prefix in _CROPS:
            cin = in_channels
            for i in _CONVS:
                setattr(self, f'{prefix}conv{i}', nn.Conv2d(cin, _WIDTH, 3, padding=1))
                setattr(self, f'{prefix}bn{i}', nn.GroupNorm(_GROUPS, _WIDTH))
                cin = _WIDTH
            half = _SIZE // 2
            setattr(self, f'{prefix}fc1', nn.Linear(_WIDTH * half * half, _WIDTH))
            setattr(self, f'{prefix}bn13', nn.GroupNorm(_GROUPS, _WIDTH))
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(len(_CROPS) * _WIDTH, num_classes)

    def _branch(self, prefix, x):
        for i in _CONVS:
            conv, norm = getattr(self, f'{prefix}conv{i}'), getattr(self, f'{prefix}bn{i}')
            x = F.leaky_relu(norm(conv(x)))
            if i == _POOL_AFTER:
                x = F.max_pool2d(x, 2)
        # flatten follows the logical (N, C, H, W) order in any memory format.
        x = getattr(self, f'{prefix}fc1')(torch.flatten(x, 1))
        return self.dropout(F.leaky_relu(getattr(self, f'{prefix}bn13')(x)))

    def forward(self, x):
        features = []
        for prefix, crop in _CROPS.items():
            view = x
            if crop is not None:
                start, stop = crop
                view = F.interpolate(x[:, :, start:stop, start:stop], size=(_SIZE, _SIZE),
                                     mode='nearest')
            features.append(self._branch(prefix, view))
        return self.fc2(torch.cat(features, dim=1))


class StarcNet_Weights(WeightsEnum):
    """
    Weights of `starcnet` (none are distributed: import the published ones).

    StarcNet's LEGUS-trained weights are published in its repository
    (:data:`STARCNET_URL`, ``model/starcnet.pth``) under its licence;
    `~astro_clusterclass.models.import_checkpoint` (or ``clusterclass
    import-model starcnet.pth --from starcnet -o starcnet.safetensors``)
    turns the downloaded file into a checkpoint for ``models=``.

    Examples
    --------
    >>> from astro_clusterclass.models import StarcNet_Weights
    >>> list(StarcNet_Weights)
    []
    """


@register_model(weights=StarcNet_Weights)
def starcnet(*, weights=None, weights_backbone=None, progress=True, num_classes=None,
             cutout_size=None, normalization=None):
    """
    Build a `StarcNet`.

    Parameters
    ----------
    weights : `StarcNet_Weights` member or str, optional
        Trained weights (none are registered; import them with
        `~astro_clusterclass.models.import_checkpoint`). `None`: random.
    weights_backbone : None
        StarcNet has no ImageNet weights.
    progress : bool, optional
        Show download progress.
    num_classes : int, optional
        Outputs (default: the four classes).
    cutout_size : int, optional
        Must be 32 (the network's input size).
    normalization : `~astro_clusterclass.preprocessing.StampNormalization` or dict, optional
        Default: StarcNet's offsets (`starcnet_normalization`).

    Returns
    -------
    model : `StarcNet`
        With ``model.meta``; its transform centres stamps as StarcNet does
        (``shift`` :data:`STARCNET_SHIFT`).

    Examples
    --------
    >>> from astro_clusterclass.models import get_model
    >>> model = get_model('starcnet')
    >>> model.meta['cutout_size'], model.meta['transform']['shift'], model.meta['num_params']
    (32, 1.0, 15265156)
    >>> get_model('starcnet', cutout_size=64)
    Traceback (most recent call last):
    ...
    ValueError: cutout_size=64: starcnet takes 32 px stamps only (its fc1 layers are sized for them)
    """
    weights, weights_backbone = split_weights(weights, weights_backbone, 'starcnet')
    if weights_backbone is not None:
        msg = 'weights_backbone: starcnet has no ImageNet weights; use weights=None'
        raise ValueError(msg)
    if cutout_size is not None and cutout_size != _SIZE:
        msg = (f'cutout_size={cutout_size!r}: starcnet takes {_SIZE} px stamps only (its fc1 '
               f'layers are sized for them)')
        raise ValueError(msg)
    if normalization is None and weights is None:
        normalization = starcnet_normalization()
    categories, cutout_size, normalization = settings_from(
        weights, num_classes=num_classes, cutout_size=_SIZE, normalization=normalization)

    def build():
        return StarcNet(num_classes=len(categories))

    model = build_with_weights(build, weights, progress) if weights is not None else build()
    model = attach_meta(model, architecture='starcnet',
                        config={'num_classes': len(categories)}, categories=categories,
                        cutout_size=cutout_size, normalization=normalization,
                        stem_layer='conv1', init='random', weights=weights)
    if weights is None:
        model.meta['stem_layers'] = [f'{prefix}conv1' for prefix in _CROPS]
        model.meta['transform'] = StampTransform(cutout_size, normalization=normalization,
                                                 shift=STARCNET_SHIFT).to_dict()
    return model

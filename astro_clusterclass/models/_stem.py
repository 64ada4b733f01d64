"""
Turning a 3-channel ImageNet stem into a five-band one.

The first convolution of an ImageNet network has one weight slice per RGB
channel. We follow timm's ``adapt_input_conv`` (repeat and rescale): the
RGB slices are repeated cyclically over the new input channels and all are
multiplied by ``3 / n_channels``, which keeps the expected activation of
the first layer for an image of equal value in every channel.

The only choice left is which band takes which RGB slice. We order the
bands by *decreasing* wavelength before repeating, so that the three
optical bands get the slice of the colour they are drawn in on an RGB
composite (F814W → R, F555W → G, F438W → B) and the two UV bands take the
next copies (F336W → R, F275W → G). Fine-tuning adapts the weights
afterwards; the point is a deliberate, documented start.
"""

import math

import torch

from ..bands import BANDS

__all__ = ['adapt_input_conv', 'RGB_CHANNEL_OF_BAND', 'stem_adaptation_meta']

#: ImageNet (RGB) channel whose stem weights each band starts from.
RGB_CHANNEL_OF_BAND = {band: 'RGB'[i % 3] for i, band in enumerate(reversed(BANDS))}


def _repeat_rescale(weight, in_chans):
    """timm's ``adapt_input_conv`` for ``in_chans > 3`` (channels in input order)."""
    out_chans, rgb, kh, kw = weight.shape
    if rgb != 3:
        msg = f'weight must have 3 input channels (an RGB stem), got shape {tuple(weight.shape)}'
        raise ValueError(msg)
    repeat = int(math.ceil(in_chans / 3))
    # Low-precision weights are adapted in float32, as timm does.
    work = weight if weight.dtype in (torch.float32, torch.float64) else weight.float()
    adapted = work.repeat(1, repeat, 1, 1)[:, :in_chans, :, :]
    return adapted * (3.0 / float(in_chans))


def adapt_input_conv(weight, bands=BANDS):
    """
    Five-band weights of a first convolution from its RGB weights.

    Parameters
    ----------
    weight : `torch.Tensor`
        ``(out_channels, 3, kh, kw)`` weights of an ImageNet stem.
    bands : sequence of str, optional
        The network's input bands, in input order (they must be the
        package's :data:`~astro_clusterclass.bands.BANDS`).

    Returns
    -------
    weight : `torch.Tensor`
        ``(out_channels, 5, kh, kw)`` weights, same dtype: band ``b`` gets
        RGB slice :data:`RGB_CHANNEL_OF_BAND` [b] times ``3 / 5``.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.models import adapt_input_conv
    >>> rgb = torch.zeros(1, 3, 1, 1)
    >>> rgb[0, :, 0, 0] = torch.tensor([1.0, 2.0, 3.0])  # R, G, B
    >>> [round(v, 4) for v in adapt_input_conv(rgb)[0, :, 0, 0].tolist()]  # F275W ... F814W
    [1.2, 0.6, 1.8, 1.2, 0.6]
    """
    if tuple(bands) != BANDS:
        msg = f'bands must be {BANDS} (the package band order), got {tuple(bands)}'
        raise ValueError(msg)
    # timm's channel order is the input order; ours is by decreasing
    # wavelength, the reverse of BANDS, so adapt then flip.
    adapted = _repeat_rescale(weight, len(bands)).flip(1)
    return adapted.to(weight.dtype)


def stem_adaptation_meta():
    """Metadata recording how the stem was adapted (stored in weights meta)."""
    return {'method': 'repeat_rescale', 'reference': 'timm adapt_input_conv',
            'rgb_channel_of_band': dict(RGB_CHANNEL_OF_BAND),
            'scale': 3.0 / len(BANDS)}

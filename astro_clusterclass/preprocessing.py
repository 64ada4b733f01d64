"""
Input normalisation of five-band stamps before they enter a network.

HST stamps span many orders of magnitude (a faint cluster sits next to a
saturated star) and their zero level and noise differ from band to band
and field to field. Every network of this package sees its stamps through
one `StampNormalization`, and the exact normalisation a model was trained
with is stored in its weights record (``meta['normalization']``, the
output of `StampNormalization.to_dict`) so that inference applies the
same transform as training. The training code and
`~astro_clusterclass.classify.classify_table` both call it; nobody
re-implements it.

Methods
-------
``'asinh'`` (default)
    Per stamp and per band: subtract the median, divide by the robust
    noise ``sigma = 1.4826 * MAD`` and compress with
    ``asinh(x / softening)``. Background is ~0, noise ~``1/softening``,
    bright cores grow logarithmically, so a faint cluster and a bright one
    look alike in shape. Colour information survives only through the
    signal-to-noise ratio in each band.
``'robust'``
    As ``'asinh'`` without the compression, clipped to ``±clip`` sigma.
``'standard'``
    Dataset statistics: ``(x - mean[band]) / std[band]`` with fixed
    per-band numbers (StarcNet-style); keeps colours and absolute flux.
``'none'``
    Stamps unchanged (tests and experiments).
"""

import math

import numpy as np
import torch

from ._utils.validation import positive_float
from .bands import BANDS

__all__ = ['StampNormalization', 'METHODS']

#: Normalisation methods and the parameters each one takes.
METHODS = {
    'asinh': ('softening',),
    'robust': ('clip',),
    'standard': ('mean', 'std'),
    'none': (),
}

#: MAD → Gaussian sigma.
_MAD_TO_SIGMA = 1.482602218505602


class StampNormalization:
    """
    Normalise ``(N, 5, S, S)`` stamps band by band.

    Parameters
    ----------
    method : {'asinh', 'robust', 'standard', 'none'}, optional
        See the module docstring.
    softening : float, optional
        ``'asinh'`` only: the noise multiple below which the transform is
        linear (``asinh(x / (softening * sigma))``).
    clip : float, optional
        ``'robust'`` only: values are clipped to ``±clip`` noise sigma.
    mean, std : sequence of 5 float, optional
        ``'standard'`` only: per-band statistics in band order
        (:data:`~astro_clusterclass.bands.BANDS`).

    Notes
    -----
    Robust statistics are computed over each band of each stamp (all
    ``S * S`` pixels; padding of edge stamps counts as data, which is one
    reason why edge stamps are not classified by default). A band whose
    noise is zero (a constant stamp) is divided by 1 instead, so the
    output is finite for every finite input. Statistics use the lower
    median of an even number of pixels (`torch.median`).

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.preprocessing import StampNormalization
    >>> norm = StampNormalization()
    >>> norm
    StampNormalization(method='asinh', softening=3.0)
    >>> rng = np.random.default_rng(0)
    >>> stamps = rng.normal(10.0, 2.0, size=(2, 5, 16, 16)).astype(np.float32)
    >>> out = norm(stamps)
    >>> out.shape, out.dtype
    ((2, 5, 16, 16), dtype('float32'))
    >>> bool(abs(np.median(out)) < 0.05)
    True
    >>> StampNormalization.from_dict(norm.to_dict()) == norm
    True
    """

    def __init__(self, method='asinh', *, softening=3.0, clip=10.0, mean=None,
                 std=None):
        if method not in METHODS:
            msg = (f'method={method!r} is not a normalisation method; expected one of '
                   f'{list(METHODS)}')
            raise ValueError(msg)
        self.method = method
        self.params = {}
        if method == 'asinh':
            self.params['softening'] = positive_float(softening, 'softening')
        elif method == 'robust':
            self.params['clip'] = positive_float(clip, 'clip')
        elif method == 'standard':
            if mean is None or std is None:
                msg = "method='standard' needs mean= and std=, one value per band"
                raise ValueError(msg)
            mean = [float(v) for v in np.ravel(mean)]
            std = [float(v) for v in np.ravel(std)]
            for name, values in (('mean', mean), ('std', std)):
                if len(values) != len(BANDS) or not all(map(math.isfinite, values)):
                    msg = (f'{name} must hold {len(BANDS)} finite values, one per band '
                           f'{BANDS}; got {values}')
                    raise ValueError(msg)
            if min(std) <= 0:
                msg = f'std must be positive in every band, got {std}'
                raise ValueError(msg)
            self.params['mean'] = mean
            self.params['std'] = std

    def to_dict(self):
        """JSON-serialisable description, stored in weights metadata."""
        return {'method': self.method, **self.params}

    @classmethod
    def from_dict(cls, spec):
        """Rebuild the normalisation described by `to_dict` output."""
        if isinstance(spec, StampNormalization):
            return spec
        if not isinstance(spec, dict) or 'method' not in spec:
            msg = f'normalization must be a dict with a "method" key, got {spec!r}'
            raise ValueError(msg)
        spec = dict(spec)
        method = spec.pop('method')
        allowed = METHODS.get(method)
        if allowed is not None:
            unknown = set(spec) - set(allowed)
            if unknown:
                msg = (f'normalization method {method!r} takes {list(allowed)}, '
                       f'got unknown parameters {sorted(unknown)}')
                raise ValueError(msg)
        return cls(method, **spec)

    def __eq__(self, other):
        if not isinstance(other, StampNormalization):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(repr(self))

    def __repr__(self):
        args = ''.join(f', {k}={v!r}' for k, v in self.params.items())
        return f'StampNormalization(method={self.method!r}{args})'

    def __call__(self, stamps):
        """
        Normalise stamps.

        Parameters
        ----------
        stamps : `numpy.ndarray` or `torch.Tensor`
            ``(N, 5, S, S)`` (or ``(5, S, S)``) stamps in band order.

        Returns
        -------
        out : same type as ``stamps``
            Float32 normalised stamps (the input is not modified). Torch
            tensors stay on their device.
        """
        is_numpy = not isinstance(stamps, torch.Tensor)
        x = torch.as_tensor(np.asarray(stamps, dtype=np.float32) if is_numpy else stamps)
        if x.ndim not in (3, 4) or x.shape[-3] != len(BANDS):
            msg = (f'stamps must have shape (N, {len(BANDS)}, S, S) or '
                   f'({len(BANDS)}, S, S), got {tuple(x.shape)}')
            raise ValueError(msg)
        out = self.apply(x.float())
        return out.numpy() if is_numpy else out

    def apply(self, x):
        """Normalise a float tensor ``(..., 5, S, S)``; returns a new tensor."""
        if self.method == 'none':
            return x.clone()
        if self.method == 'standard':
            shape = (len(BANDS), 1, 1)
            mean = torch.tensor(self.params['mean'], dtype=x.dtype, device=x.device)
            std = torch.tensor(self.params['std'], dtype=x.dtype, device=x.device)
            return (x - mean.view(shape)) / std.view(shape)
        flat = x.flatten(-2)
        centre = flat.median(dim=-1, keepdim=True).values
        resid = flat - centre
        sigma = resid.abs().median(dim=-1, keepdim=True).values * _MAD_TO_SIGMA
        # Constant stamps (zero noise) would give inf/NaN; divide by 1 instead.
        sigma = torch.where(sigma > 0, sigma, torch.ones_like(sigma))
        scaled = resid / sigma
        if self.method == 'asinh':
            scaled = torch.asinh(scaled / self.params['softening'])
        else:
            scaled = scaled.clamp(-self.params['clip'], self.params['clip'])
        return scaled.view_as(x)

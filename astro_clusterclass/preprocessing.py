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

from ._utils.validation import check_float, check_int, positive_float
from .bands import BANDS

__all__ = ['StampNormalization', 'StampTransform', 'METHODS']

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


class StampTransform:
    """
    How a model turns the pixels around a position into its input.

    A transform fixes the stamp a network sees: its side ``size``, which
    pixel it is centred on, and the `StampNormalization` applied to it. It
    is recorded in the model's metadata (``meta['transform']``, the output
    of `to_dict`) and used by inference, evaluation and training alike, as
    torchvision weights carry their ``transforms()``.

    Parameters
    ----------
    size : int
        Side of the network input in pixels.
    normalization : `StampNormalization` or dict, optional
        Default: ``StampNormalization()`` (asinh).
    shift : float, optional
        Centring rule: the stamp is centred on the image pixel
        ``floor(x + shift)`` (0-based pixel ``x``), which sits at index
        ``size // 2``. The default 0.5 centres on the nearest pixel (halves
        round up), the convention of `~astro_clusterclass.make_cutouts`;
        ``shift=1.0`` reproduces tools that use 1-based catalogue positions,
        truncated, as 0-based indices.

    Notes
    -----
    Stamps given as arrays without positions are taken to be centred on
    the candidate: the position is the centre pixel ``S // 2`` of an
    ``(N, 5, S, S)`` array, exactly. Positions far outside any image are
    clipped before they are turned into integers, so they never wrap
    around.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.preprocessing import StampTransform
    >>> transform = StampTransform(4, normalization={'method': 'none'})
    >>> transform
    StampTransform(size=4, shift=0.5, normalization=StampNormalization(method='none'))
    >>> stamps = np.arange(2 * 5 * 7 * 7, dtype='f4').reshape(2, 5, 7, 7)
    >>> transform(stamps).shape          # the central 4 x 4 pixels of each 7 x 7 stamp
    (2, 5, 4, 4)
    >>> int(transform(stamps)[0, 0, 2, 2]) == int(stamps[0, 0, 3, 3])   # centre at index 2
    True
    >>> StampTransform.from_dict(transform.to_dict()) == transform
    True
    """

    def __init__(self, size, *, normalization=None, shift=0.5):
        self.size = check_int(size, 'size', minimum=1)
        if normalization is None:
            normalization = StampNormalization()
        elif isinstance(normalization, dict):
            normalization = StampNormalization.from_dict(normalization)
        if not isinstance(normalization, StampNormalization):
            msg = (f'normalization must be a StampNormalization or its dict, got '
                   f'{type(normalization).__name__}')
            raise TypeError(msg)
        self.normalization = normalization
        self.shift = check_float(shift, 'shift', minimum=-self.size, maximum=self.size)

    # -- description ---------------------------------------------------------

    def to_dict(self):
        """JSON-serialisable description, stored in model metadata as ``meta['transform']``."""
        return {'size': self.size, 'shift': self.shift,
                'normalization': self.normalization.to_dict()}

    @classmethod
    def from_dict(cls, spec):
        """Rebuild the transform described by `to_dict` output."""
        if isinstance(spec, StampTransform):
            return spec
        if not isinstance(spec, dict) or 'size' not in spec:
            msg = f'transform must be a dict with a "size" key, got {spec!r}'
            raise ValueError(msg)
        unknown = set(spec) - {'size', 'shift', 'normalization'}
        if unknown:
            msg = f'transform takes size, shift and normalization; got {sorted(unknown)}'
            raise ValueError(msg)
        return cls(spec['size'], normalization=spec.get('normalization'),
                   shift=spec.get('shift', 0.5))

    @classmethod
    def from_meta(cls, meta):
        """
        The transform of a model from its metadata.

        ``meta['transform']`` when present (checked against
        ``meta['cutout_size']`` and ``meta['normalization']``), else the
        package's default rule with the model's cutout size and normalisation.
        """
        spec = meta.get('transform')
        if spec is None:
            return cls(meta['cutout_size'], normalization=meta['normalization'])
        transform = cls.from_dict(spec)
        if transform.size != meta.get('cutout_size', transform.size) or (
                'normalization' in meta
                and StampNormalization.from_dict(meta['normalization']) != transform.normalization):
            msg = (f'model metadata disagree: transform {transform!r} but cutout_size '
                   f'{meta.get("cutout_size")!r} and normalization {meta.get("normalization")!r}')
            raise ValueError(msg)
        return transform

    def __eq__(self, other):
        if not isinstance(other, StampTransform):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(repr(self))

    def __repr__(self):
        return (f'StampTransform(size={self.size}, shift={self.shift}, '
                f'normalization={self.normalization!r})')

    # -- geometry ------------------------------------------------------------

    def center_pixels(self, x):
        """
        Integer image pixel each position is centred on (``floor(x + shift)``).

        Non-finite and absurd positions give a pixel far outside any image
        (never an integer overflow).
        """
        x = np.asarray(x, dtype=float)
        limit = 2.0 ** 52
        safe = np.where(np.isfinite(x), np.clip(x, -limit, limit), -limit)
        return np.floor(safe + self.shift).astype(np.int64)

    def corners(self, x, y):
        """Image pixels (x0, y0) of stamp pixel ``[0, 0]`` for positions x, y."""
        half = self.size // 2
        return self.center_pixels(x) - half, self.center_pixels(y) - half

    def offset_range(self, source_shift=0.5):
        """
        Smallest and largest ``floor(x + shift) - floor(x + source_shift)`` over all x.

        How far this transform's centre pixel can be from that of a stamp
        cut with ``source_shift``.
        """
        delta = self.shift - source_shift
        low = math.floor(delta)
        return (low, low) if delta == low else (low, low + 1)

    def source_size(self, source_shift=0.5, minimum=None):
        """
        Smallest side S of a stamp cut with ``source_shift`` that holds this transform's stamp.
        """
        low, high = self.offset_range(source_shift)
        side = max(self.size, minimum or 1)
        while True:
            start = side // 2 - self.size // 2
            if start + low >= 0 and start + high + self.size <= side:
                return side
            side += 1

    def crop(self, stamps, *, x0=None, y0=None, x=None, y=None):
        """
        This transform's stamps from larger stamps (a view when the offset is the same for all).

        Parameters
        ----------
        stamps : `torch.Tensor` or `~numpy.ndarray`
            ``(N, C, S, S)`` source stamps.
        x0, y0 : array-like of int, optional
            Image pixel of source pixel ``[0, 0]`` of each stamp.
        x, y : array-like of float, optional
            0-based positions of the candidates. Without them (and without
            ``x0``/``y0``), each stamp is centred on its candidate: the
            position is its pixel ``S // 2``.

        Returns
        -------
        cropped : same type as ``stamps``
            ``(N, C, size, size)``.

        Raises
        ------
        ValueError
            If a stamp does not hold this transform's stamp.
        """
        side = stamps.shape[-1]
        n = stamps.shape[0]
        if x is None and y is None and x0 is None and y0 is None:
            corner = int(self.center_pixels(side // 2)) - self.size // 2
            ox = oy = np.full(n, corner, dtype=np.int64)
        elif x is None or y is None or x0 is None or y0 is None:
            msg = 'crop: give all of x0, y0, x and y, or none of them'
            raise ValueError(msg)
        else:
            cx, cy = self.corners(x, y)
            ox = cx - np.asarray(x0, dtype=np.int64)
            oy = cy - np.asarray(y0, dtype=np.int64)
        if n == 0:
            return stamps[:, :, :self.size, :self.size]
        if ox.min() < 0 or oy.min() < 0 or max(ox.max(), oy.max()) + self.size > side:
            msg = (f'stamps of {side} px do not hold the {self.size} px stamps of {self!r} '
                   f'at these positions; cut larger stamps')
            raise ValueError(msg)
        if (ox == ox[0]).all() and (oy == oy[0]).all():
            a, b = int(oy[0]), int(ox[0])
            return stamps[:, :, a:a + self.size, b:b + self.size]
        is_torch = isinstance(stamps, torch.Tensor)
        out = (stamps.new_empty((n, stamps.shape[1], self.size, self.size)) if is_torch
               else np.empty((n, stamps.shape[1], self.size, self.size), stamps.dtype))
        pairs = np.stack([oy, ox], axis=1)
        for a, b in np.unique(pairs, axis=0):
            rows = np.flatnonzero((oy == a) & (ox == b))
            index = torch.from_numpy(rows).to(stamps.device) if is_torch else rows
            out[index] = stamps[index, :, a:a + self.size, b:b + self.size]
        return out

    def __call__(self, stamps, *, x0=None, y0=None, x=None, y=None):
        """
        Crop and normalise: the network input of each stamp.

        Parameters are those of `crop`; numpy arrays give numpy arrays,
        tensors give tensors (on their device). The output is float32.
        """
        is_numpy = not isinstance(stamps, torch.Tensor)
        tensor = torch.as_tensor(np.asarray(stamps, dtype=np.float32) if is_numpy else stamps)
        if tensor.ndim != 4 or tensor.shape[1] != len(BANDS):
            msg = f'stamps must have shape (N, {len(BANDS)}, S, S), got {tuple(tensor.shape)}'
            raise ValueError(msg)
        out = self.normalization.apply(self.crop(tensor, x0=x0, y0=y0, x=x, y=y).float())
        return out.numpy() if is_numpy else out

"""Compute device and precision: the one table of precisions and how 'auto' resolves."""

import torch

from ._quantize import quantization_engine

__all__ = ['PRECISIONS', 'resolve_device', 'resolve_precision', 'check_device',
           'check_precision', 'native_bf16']

#: Accepted ``precision`` values → dtype of the weights (``'auto'`` is resolved
#: first). ``'int8'`` is for inference only (`~astro_clusterclass.classify.Ensemble`
#: calibrates and checks it, see ``classify._quantize``); its members take float32
#: stamps.
PRECISIONS = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'int8': torch.qint8}

#: Precisions that only inference accepts (training computes in floating point).
_INFERENCE_ONLY = ('int8',)


def check_device(device):
    """
    ``device`` as a string after checking its syntax (``'auto'`` stays ``'auto'``).

    Used where the device is resolved elsewhere (Dask workers may have GPUs
    the client lacks).

    Examples
    --------
    >>> from astro_clusterclass.classify import check_device
    >>> check_device('cuda:1'), check_device('auto')
    ('cuda:1', 'auto')
    """
    if isinstance(device, str) and device == 'auto':
        return device
    try:
        return str(torch.device(device))
    except (RuntimeError, TypeError) as exc:
        msg = f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda'"
        raise ValueError(msg) from exc


def check_precision(precision, *, allow_auto=True, allow_int8=None):
    """
    ``precision`` after checking it is one of the names of :data:`PRECISIONS` (or ``'auto'``).

    Parameters
    ----------
    precision : str
    allow_auto : bool, optional
        Accept ``'auto'``.
    allow_int8 : bool, optional
        Accept ``'int8'``, an inference precision. Default: as
        ``allow_auto`` (callers that refuse ``'auto'``, such as training,
        compute in floating point).

    Examples
    --------
    >>> from astro_clusterclass.classify import check_precision
    >>> check_precision('bf16'), check_precision('int8')
    ('bf16', 'int8')
    >>> check_precision('fp16')
    Traceback (most recent call last):
    ...
    ValueError: precision='fp16' is not one of 'auto', 'fp32', 'bf16', 'int8'
    >>> check_precision('int8', allow_auto=False)
    Traceback (most recent call last):
    ...
    ValueError: precision='int8' is not one of 'fp32', 'bf16'
    """
    if allow_int8 is None:
        allow_int8 = allow_auto
    names = [name for name in PRECISIONS if allow_int8 or name not in _INFERENCE_ONLY]
    names = (['auto'] if allow_auto else []) + names
    if not isinstance(precision, str) or precision not in names:
        msg = f"precision={precision!r} is not one of {', '.join(map(repr, names))}"
        raise ValueError(msg)
    return precision


def resolve_device(device):
    """
    The `torch.device` meant by ``device``.

    ``'auto'`` is the first CUDA GPU when one is present, else the CPU.

    Examples
    --------
    >>> from astro_clusterclass.classify import resolve_device
    >>> resolve_device('cpu')
    device(type='cpu')
    >>> resolve_device('auto').type in ('cpu', 'cuda')
    True
    """
    if isinstance(device, str) and device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dev = torch.device(check_device(device))
    if dev.type == 'cuda' and not torch.cuda.is_available():
        msg = f'device={device!r} but no CUDA GPU is available'
        raise ValueError(msg)
    return dev


def native_bf16(device):
    """
    True when ``device`` computes bf16 in hardware.

    CUDA GPUs with bf16 support; CPUs with AVX512-BF16 or AMX.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.classify import native_bf16
    >>> native_bf16(torch.device('cpu')) in (True, False)
    True
    """
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported()
    if device.type != 'cpu':
        return False
    cpu = torch.cpu
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision, device):
    """
    The compute precision and dtype for ``precision`` on ``device``.

    ``'auto'`` gives bf16 where the hardware computes it natively (see
    `native_bf16`) and fp32 elsewhere: without native support bf16 is
    emulated and slower than fp32. bf16 changes classes of random-weight
    models for a small fraction of stamps (see the benchmark and
    docs/classification.rst); pass ``'fp32'`` for bit-for-bit reproducible
    fp32 results. ``'auto'`` never gives ``'int8'``: it must be asked for,
    and is accepted only after a check against fp32 on calibration stamps
    (`~astro_clusterclass.classify.Ensemble`).

    Raises
    ------
    ValueError
        If ``precision`` is unknown, or ``'int8'`` on a device or a PyTorch
        build without int8 kernels
        (`~astro_clusterclass.classify.quantization_engine`).

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.classify import resolve_precision
    >>> resolve_precision('fp32', torch.device('cpu'))
    ('fp32', torch.float32)
    >>> resolve_precision('auto', torch.device('cpu'))[0] in ('fp32', 'bf16')
    True
    """
    check_precision(precision)
    if precision == 'auto':
        precision = 'bf16' if native_bf16(device) else 'fp32'
    if precision == 'int8':
        quantization_engine(device)  # refuses GPUs and builds without int8 kernels
    return precision, PRECISIONS[precision]

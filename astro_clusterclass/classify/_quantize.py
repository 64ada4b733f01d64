"""
int8 inference copies, accepted only when they classify as fp32 does.

``precision='int8'`` runs each member through PyTorch's post-training
static quantization for CPUs: FX graph mode
(`torch.ao.quantization.quantize_fx.prepare_fx` /
`~torch.ao.quantization.quantize_fx.convert_fx`) with the default
`~torch.ao.quantization.get_default_qconfig_mapping` of the engine
(``'x86'``: per-channel symmetric int8 weights, histogram-calibrated uint8
activations with the reduced range that CPUs without VNNI need;
``'qnnpack'`` on ARM). Convolution + batch norm (already folded by
`~astro_clusterclass.models.prepare_for_inference`) + ReLU run as one int8
kernel; the logits come back in float32. The stem (the first convolution,
which sees the raw, heavy-tailed stamp values: ``meta['stem_layer']`` or
``meta['stem_layers']``) and the last linear layer (the logits) stay in
float32, the usual practice: they are a small share of the work and the
layers whose rounding changes classes most.

FX graph mode is chosen over PT2E (``torchao.quantization.pt2e``) because
its converted models run eagerly: PT2E's x86 kernels need
`torch.compile`, whose compilation of twenty networks costs more than a
small job takes. PyTorch marks FX quantization for migration to torchao;
its notices are silenced here, not its errors.

Activation ranges are calibrated on real stamps, and held-out stamps of
the same set then decide whether the int8 copy is used. Close calls are
recomputed in fp32: a stamp whose two most probable int8 classes are
closer than a margin is run again through the member's fp32 copy. The
ranges and the margin come from the even-numbered calibration stamps (the
margin is twice the largest change of a probability that int8 made on
them: a class can only change where the margin is below that); the
odd-numbered ones, unseen, are the check: each member's class must equal its fp32
class, and the ensemble's mode its fp32 mode, for at least
:data:`INT8_MIN_AGREEMENT` of them, and no more than
:data:`INT8_MAX_FALLBACK` of them may need fp32 (else int8 gains nothing),
otherwise `QuantizationRefusedError` says which member fell short and by
how much.
"""

import contextlib
import copy
import warnings

import numpy as np
import torch
from torch import nn

__all__ = ['QuantizationRefusedError', 'INT8_MIN_AGREEMENT', 'INT8_CALIBRATION_SIZE',
           'INT8_MAX_FALLBACK', 'INT8_MIN_CHECK_STAMPS',
           'quantization_engine', 'Int8Module', 'int8_agreement', 'float_layers',
           'close_calls']

#: Fraction of calibration stamps whose int8 class must equal the fp32 class
#: (for every member and for the ensemble's mode).
INT8_MIN_AGREEMENT = 0.995

#: Stamps a job calibrates on when none are given (a sample spread over the job).
INT8_CALIBRATION_SIZE = 512

#: Fewest check stamps that can show the agreement: with fewer, a job where int8
#: changed no class would be accepted on too little evidence (at this number a single
#: changed class is 1 - INT8_MIN_AGREEMENT).
INT8_MIN_CHECK_STAMPS = 200

#: Largest fraction of the check stamps a member may recompute in fp32.
INT8_MAX_FALLBACK = 0.25

#: Quantized engines, in order of preference.
_ENGINES = ('x86', 'fbgemm', 'qnnpack')


class QuantizationRefusedError(ValueError):
    """
    The int8 copy of a model classifies too many calibration stamps differently from fp32.

    ``agreement`` holds the figures (see `int8_agreement`).

    Examples
    --------
    >>> from astro_clusterclass.classify import QuantizationRefusedError
    >>> issubclass(QuantizationRefusedError, ValueError)
    True
    """

    def __init__(self, message, agreement=None):
        super().__init__(message)
        self.agreement = agreement


# Raised to users from astro_clusterclass.classify: named there in tracebacks.
QuantizationRefusedError.__module__ = 'astro_clusterclass.classify'


def quantization_engine(device):
    """
    The quantized engine ``precision='int8'`` uses on ``device``.

    Parameters
    ----------
    device : `torch.device`

    Returns
    -------
    engine : str
        ``'x86'``, ``'fbgemm'`` or ``'qnnpack'`` (the first this PyTorch has).

    Raises
    ------
    ValueError
        If ``device`` is not the CPU (PyTorch's int8 kernels are CPU
        kernels) or this PyTorch has none of these engines.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.classify import quantization_engine
    >>> quantization_engine(torch.device('cpu')) in ('x86', 'fbgemm', 'qnnpack')
    True
    >>> quantization_engine(torch.device('cuda'))   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: precision='int8' runs on the CPU only (PyTorch's quantized kernels), ...
    """
    if device.type != 'cpu':
        msg = (f"precision='int8' runs on the CPU only (PyTorch's quantized kernels), not on "
               f"device={str(device)!r}; use precision='bf16' or 'fp32' there")
        raise ValueError(msg)
    supported = list(torch.backends.quantized.supported_engines)
    for name in _ENGINES:
        if name in supported:
            return name
    msg = (f"precision='int8': this PyTorch has no quantized engine for int8 inference "
           f"(it supports {supported}, int8 needs one of {list(_ENGINES)}); "
           f"use precision='fp32'")
    raise ValueError(msg)


def float_layers(module):
    """
    Names of the layers of an inference copy that int8 keeps in float32: stem(s), last linear.

    Examples
    --------
    >>> from astro_clusterclass.classify import float_layers
    >>> from astro_clusterclass.models import get_model, prepare_for_inference
    >>> float_layers(prepare_for_inference(get_model('vgg19_bn', cutout_size=32),
    ...                                    input_size=32))
    ['features.0', 'classifier.4']
    >>> float_layers(prepare_for_inference(get_model('starcnet'), input_size=32))
    ['conv1', 'aconv1', 'aaconv1', 'fc2']
    """
    meta = getattr(module, 'meta', {})
    modules = dict(module.named_modules())
    stems = meta.get('stem_layers') or [meta.get('stem_layer')]
    names = [name for name in stems if name in modules]
    linear = [name for name, layer in modules.items() if isinstance(layer, nn.Linear)]
    return names + linear[-1:]


#: Depth of `_quiet` contexts entered (by the thread that runs an ensemble's members):
#: the members' threads then find the engine set and the notices silenced already.
_ACTIVE = [0]


@contextlib.contextmanager
def quiet_int8(engine):
    """
    The quantized engine set (and restored), PyTorch's migration notices silenced.

    Warnings filters and the engine are process-wide: enter this in the
    thread that starts the members' threads, never in those threads.
    """
    previous = torch.backends.quantized.engine
    _ACTIVE[0] += 1
    with warnings.catch_warnings():
        for text in ('.*quantiz.*deprecated', '.*migrate to use torchao',
                     '.*reduce_range will be deprecated', '.*_empty_affine_quantized',
                     # StarcNet joins its branches; the agreement check measures the cost.
                     '.*cat operator must share the same quantization parameters'):
            warnings.filterwarnings('ignore', message=text)
        warnings.filterwarnings('ignore', category=FutureWarning,
                                module=r'torch\.ao\.quantization')
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                module=r'torch\.ao\.quantization')
        if previous != engine:
            torch.backends.quantized.engine = engine
        try:
            yield
        finally:
            _ACTIVE[0] -= 1
            if previous != engine:
                torch.backends.quantized.engine = previous


_quiet = quiet_int8


class Int8Module(nn.Module):
    """
    An int8 inference copy: float32 stamps in, float32 logits out.

    Build it with `Int8Module.observe` (a copy of an fp32 inference module
    that records activation ranges while computing fp32 logits), feed it
    calibration stamps, then `Int8Module.convert`.

    Parameters
    ----------
    graph : `torch.fx.GraphModule`
        Prepared (observing) or converted (int8) graph.
    engine : str
        The quantized engine it runs on.
    meta : dict
        The member's metadata (``meta['precision']`` is ``'int8'`` once converted).

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.classify import Int8Module
    >>> from astro_clusterclass.models import get_model, prepare_for_inference
    >>> _ = torch.manual_seed(0)
    >>> fast = prepare_for_inference(get_model('compactnet', cutout_size=16), input_size=16)
    >>> x = torch.randn(64, 5, 16, 16).contiguous(memory_format=torch.channels_last)
    >>> observing = Int8Module.observe(fast, x[:1], engine='x86' if 'x86' in
    ...                                torch.backends.quantized.supported_engines else 'qnnpack')
    >>> with torch.inference_mode():
    ...     reference = observing(x)                 # fp32 logits; ranges recorded
    >>> int8 = observing.convert()
    >>> with torch.inference_mode():
    ...     same = (int8(x).argmax(1) == reference.argmax(1)).float().mean().item()
    >>> int8.converted, same > 0.9
    (True, True)
    """

    def __init__(self, graph, engine, meta, converted=False, fallback=None, margin=0.0):
        super().__init__()
        self.graph = graph
        self.engine = engine
        self.meta = meta
        self.converted = converted
        self.fallback = fallback
        self.margin = float(margin)

    @classmethod
    def observe(cls, module, example, *, engine):
        """
        An observing copy of the fp32 inference ``module`` (``module`` is not changed).

        Its stem and last linear layer stay in float32 (`float_layers`).

        Raises
        ------
        ValueError
            If ``module`` cannot be traced by ``torch.fx`` (data-dependent
            control flow): the message names ``precision='int8'``.
        """
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import prepare_fx
        meta = dict(getattr(module, 'meta', {}))
        mapping = get_default_qconfig_mapping(engine)
        for name in float_layers(module):
            mapping.set_module_name(name, None)
        with _quiet(engine):
            try:
                graph = prepare_fx(copy.deepcopy(module).eval(), mapping,
                                   example_inputs=(example,))
            except Exception as exc:  # noqa: BLE001 - fx raises many kinds
                msg = (f"precision='int8': model {meta.get('architecture', '?')!r} cannot be "
                       f"traced for quantization ({type(exc).__name__}: {exc}); use "
                       f"precision='fp32'")
                raise ValueError(msg) from exc
        return cls(graph, engine, meta)

    def convert(self):
        """The int8 copy, from the ranges observed so far."""
        from torch.ao.quantization.quantize_fx import convert_fx
        if self.converted:
            return self
        with _quiet(self.engine):
            graph = convert_fx(self.graph)
        meta = dict(self.meta, precision='int8', quantization_engine=self.engine)
        return type(self)(graph, self.engine, meta, converted=True)

    def guarded(self, fallback, margin):
        """
        This int8 copy, recomputing with ``fallback`` (fp32) the stamps of int8 margin < ``margin``.

        The margin is the difference of the two largest softmax
        probabilities.
        """
        if not self.converted:
            msg = 'guarded: convert the observing copy first'
            raise ValueError(msg)
        meta = dict(self.meta, int8_fp32_margin=float(margin))
        return type(self)(self.graph, self.engine, meta, converted=True, fallback=fallback,
                          margin=margin)

    def forward(self, x):
        if _ACTIVE[0]:
            logits = self.graph(x.float())
        else:
            with _quiet(self.engine):
                logits = self.graph(x.float())
        if self.fallback is not None and self.margin > 0:
            top = torch.softmax(logits.float(), dim=1).topk(2, dim=1).values
            close = (top[:, 0] - top[:, 1]) < self.margin
            if bool(close.any()):
                logits = logits.float().clone()
                logits[close] = self.fallback(x[close]).float()
        return logits


def close_calls(probabilities, margin):
    """
    Rows whose two largest probabilities differ by less than ``margin``.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.classify import close_calls
    >>> close_calls(np.array([[0.5, 0.4, 0.1, 0.0], [0.9, 0.05, 0.05, 0.0]]), 0.2).tolist()
    [True, False]
    """
    top = np.sort(np.asarray(probabilities), axis=-1)
    return (top[..., -1] - top[..., -2]) < margin


def int8_agreement(reference, quantized, labels, *, minimum=INT8_MIN_AGREEMENT,
                   fallback=None, max_fallback=INT8_MAX_FALLBACK,
                   min_stamps=INT8_MIN_CHECK_STAMPS):
    """
    How often int8 probabilities give the fp32 classes; refuse below ``minimum``.

    Parameters
    ----------
    reference, quantized : `~numpy.ndarray`
        ``(N, M, K)`` class probabilities of M members in fp32 and in int8
        (close calls recomputed in fp32 already).
    labels : list of str
        The M member labels (for the figures and the message).
    minimum : float, optional
        Required fraction (default :data:`INT8_MIN_AGREEMENT`), for every
        member and for the ensemble mode
        (`~astro_clusterclass.classify.consolidate`).
    fallback : dict, optional
        Label → fraction of the stamps the member recomputed in fp32.
    max_fallback : float, optional
        Largest fraction allowed in ``fallback`` (default
        :data:`INT8_MAX_FALLBACK`).
    min_stamps : int, optional
        Fewest stamps the figures may rest on (default
        :data:`INT8_MIN_CHECK_STAMPS`).

    Returns
    -------
    agreement : dict
        ``n_stamps``, ``members`` (label → fraction of equal classes),
        ``mode`` (fraction of equal ensemble modes), ``worst`` (the lowest
        of these), ``minimum``, ``max_prob_diff``, ``fallback``.

    Raises
    ------
    QuantizationRefusedError
        If any fraction is below ``minimum`` (with fewer than ``1 /
        (1 - minimum)`` stamps that means any change at all), or a member
        recomputed more than ``max_fallback`` of the stamps in fp32.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.classify import int8_agreement
    >>> p = np.tile([[[0.7, 0.1, 0.1, 0.1]]], (400, 1, 1))
    >>> q = p.copy()
    >>> q[0, 0] = [0.1, 0.7, 0.1, 0.1]          # one class changed in 400: 99.75 %
    >>> int8_agreement(p, q, ['compactnet'])['members']
    {'compactnet': 0.9975}
    >>> q[1, 0] = q[2, 0] = q[0, 0]             # three changed: 99.25 %
    >>> int8_agreement(p, q, ['compactnet'])   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    astro_clusterclass.classify.QuantizationRefusedError: precision='int8' refused: ... 99.25 % ...
    """
    from ..classes import CLASSES
    from ._consolidate import consolidate
    reference = np.asarray(reference, dtype=float)
    quantized = np.asarray(quantized, dtype=float)
    n = reference.shape[0]
    if n == 0:
        msg = ("precision='int8' refused: no calibration stamps (none of the stamps given "
               "or of the job's could be classified); calibrate on stamps of the images to "
               "classify, or use precision='fp32'")
        raise QuantizationRefusedError(msg, {'n_stamps': 0})
    if n < min_stamps:
        msg = (f"precision='int8' refused: only {n} check stamps, too few to show that int8 "
               f"keeps {100 * minimum:.1f} % of the classes (at least {min_stamps} are "
               f"needed); calibrate on more stamps (calibration_stamps=, twice as many: half "
               f"calibrate, half check), or use precision='fp32'")
        raise QuantizationRefusedError(msg, {'n_stamps': int(n)})
    categories = np.asarray(CLASSES)
    a, b = reference.argmax(axis=2), quantized.argmax(axis=2)
    members = {label: float(np.mean(a[:, j] == b[:, j])) for j, label in enumerate(labels)}
    mode_a = np.asarray(consolidate(categories[a], reference)['class_mode'])
    mode_b = np.asarray(consolidate(categories[b], quantized)['class_mode'])
    mode = float(np.mean(mode_a == mode_b))
    figures = dict(members, **({'ensemble mode': mode} if len(labels) > 1 else {}))
    worst_name = min(figures, key=figures.get)
    fallback = {label: float(fallback[label]) for label in labels} if fallback else {}
    out = {'n_stamps': int(n), 'members': members, 'mode': mode,
           'worst': figures[worst_name], 'minimum': float(minimum),
           'max_prob_diff': float(np.abs(reference - quantized).max()), 'fallback': fallback}
    slow = [label for label in fallback if fallback[label] > max_fallback]
    if slow and figures[worst_name] >= minimum:
        label = max(slow, key=fallback.get)
        msg = (f"precision='int8' refused: member {label!r} is so often a close call that "
               f"{100 * fallback[label]:.1f} % of the {n} check stamps had to be recomputed "
               f"in fp32 (at most {100 * max_fallback:.0f} %), so int8 would not be faster; "
               f"use precision='fp32' (or 'bf16')")
        raise QuantizationRefusedError(msg, out)
    if figures[worst_name] < minimum:
        what = ('the ensemble mode' if worst_name == 'ensemble mode'
                else f'member {worst_name!r}')
        msg = (f"precision='int8' refused: int8 classes equal the fp32 classes for only "
               f"{100 * figures[worst_name]:.2f} % of the {n} check stamps for {what} "
               f"({100 * minimum:.2f} % required); use precision='fp32' (or 'bf16')")
        raise QuantizationRefusedError(msg, out)
    return out

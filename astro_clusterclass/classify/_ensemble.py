"""
The classification engine: an ensemble of models ready for inference.

An `Ensemble` owns everything between model sources and a classified
table: it loads each model (one dispatch,
`~astro_clusterclass.models.load_model`), resolves the device and the
precision, prepares an inference copy of each member
(`~astro_clusterclass.models.prepare_for_inference`), knows each member's
identity (label, source, SHA-256) and its
`~astro_clusterclass.preprocessing.StampTransform`, the stamp it must cut
to serve all members, predicts probabilities for stamps, classifies
positions on images chunk by chunk, and builds the result columns and
their ``meta``. `EnsembleSpec` is what another process (a Dask worker)
needs to rebuild the same ensemble, with the hashes it checks.
`~astro_clusterclass.classify.classify_table`, the Dask path and training
and evaluation all run through it.
"""

import contextlib
import os
import socket
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from astropy.table import MaskedColumn, QTable
from astropy.utils.exceptions import AstropyUserWarning
from tqdm.auto import tqdm

from .._utils.flags import FlagBase
from .._utils.validation import positive_int
from ..calibration import (UNCERTAINTY_COLUMNS, Calibration, entropy, margin,
                           mutual_information, read_calibration, stored_calibration)
from ..classes import CLASSES
from ..cutouts import CutoutFlag, Cutouts, iter_cutouts, make_cutouts
from ..models import (REAL_DATA_RECIPE, ModelReference, default_weights, load_model,
                      model_reference, trained_on,
                      prepare_for_inference)
from ..preprocessing import StampTransform
from ._consolidate import ENSEMBLE_COLUMNS, consolidate
from ._device import check_precision, resolve_device, resolve_precision
from ._quantize import (INT8_CALIBRATION_SIZE, Int8Module, close_calls, int8_agreement,
                        quantization_engine, quiet_int8)
from . import _pages

__all__ = ['Ensemble', 'EnsembleSpec', 'Member', 'DEFAULT_SKIP_FLAGS', 'ClassFlag',
           'images_simulated']

#: Stamps with any of these flags are not classified by default.
DEFAULT_SKIP_FLAGS = (CutoutFlag.EDGE | CutoutFlag.OFF_IMAGE | CutoutFlag.NONFINITE
                      | CutoutFlag.MISSING_BAND)

#: The centring rule of the stamps the engine cuts (`~astro_clusterclass.make_cutouts`).
_CUT_SHIFT = 0.5

#: Smallest batch per architecture: ResNet18's late layers work on 2 x 2 and 1 x 1
#: maps at 32 px, matrix products too small to keep the cores busy in batches of 32.
_MIN_BATCH = {'resnet18': 128}


def _single_thread():
    torch.set_num_threads(1)


class ClassFlag(FlagBase):
    """
    Bits of the ``class_flag`` column: the stamp's flags, and non-finite probabilities.

    The low bits are those of `~astro_clusterclass.cutouts.CutoutFlag`
    (same values, same meaning); ``NONFINITE_PROBABILITY`` marks a row
    that a model gave NaN or infinite probabilities (a diverged network,
    an overflow): such a row gets no class from any model.

    Examples
    --------
    >>> from astro_clusterclass.classify import ClassFlag
    >>> ClassFlag.describe(ClassFlag.EDGE | ClassFlag.NONFINITE_PROBABILITY)
    'EDGE|NONFINITE_PROBABILITY'
    >>> int(ClassFlag.NONFINITE_PROBABILITY)
    16
    """

    NONE = 0, CutoutFlag.NONE.description
    EDGE = int(CutoutFlag.EDGE), CutoutFlag.EDGE.description
    OFF_IMAGE = int(CutoutFlag.OFF_IMAGE), CutoutFlag.OFF_IMAGE.description
    NONFINITE = int(CutoutFlag.NONFINITE), CutoutFlag.NONFINITE.description
    MISSING_BAND = int(CutoutFlag.MISSING_BAND), CutoutFlag.MISSING_BAND.description
    NONFINITE_PROBABILITY = 16, ('A model gave NaN or infinite probabilities for this '
                                 'candidate; it has no class (masked results).')


def images_simulated(images):
    """
    True when every band says it was made by `astro_clusterclass.datasets` (FITS ``SIMULATE = T``).

    Images without headers (plain arrays) carry no such keyword and count
    as not simulated: nothing says they are.

    Examples
    --------
    >>> from astro_clusterclass.classify import images_simulated
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> images_simulated(make_cluster_field((128, 128), 4, seed=1).images)
    True
    """
    headers = getattr(images, 'headers', None) or {}
    return all(headers.get(band) is not None and headers[band].get('SIMULATE') is True
               for band in images.bands)


def _spread(n, k):
    """At most ``k`` indices spread evenly over ``range(n)`` (all when ``n <= k``)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


@dataclass
class _StampSample:
    """Stamps and their positions, as `Ensemble.predict` takes them."""

    data: Any
    positions: dict


def _stamp_array(stamps, parameter):
    """``(float32 array (N, 5, S, S), positions)`` of stamps given as Cutouts or an array."""
    positions = {}
    if isinstance(stamps, _StampSample):
        positions, stamps = stamps.positions, stamps.data
    elif isinstance(stamps, Cutouts):
        positions = {'x0': stamps.x0, 'y0': stamps.y0, 'x': stamps.x, 'y': stamps.y}
        stamps = stamps.data
    array = np.ascontiguousarray(stamps, dtype=np.float32)
    if array.ndim != 4:
        msg = f'{parameter} must have shape (N, 5, S, S), got {array.shape}'
        raise ValueError(msg)
    return array, positions


def _as_list(models):
    if models is None:
        return [default_weights()]
    if isinstance(models, (list, tuple)):
        if not models:
            msg = 'models is empty; give at least one model'
            raise ValueError(msg)
        return list(models)
    return [models]


def _labels(metas):
    """Column labels: the architecture, numbered when it occurs several times."""
    archs = [meta['architecture'] for meta in metas]
    seen, labels = {}, []
    for arch in archs:
        seen[arch] = seen.get(arch, 0) + 1
        labels.append(f'{arch}_{seen[arch]}' if archs.count(arch) > 1 else arch)
    return labels


def _load_size(source):
    """Rough bytes a source needs while loading (orders the loading, largest first)."""
    if isinstance(source, (str, os.PathLike)) and os.path.isfile(source):
        return os.path.getsize(source)
    return 0


def _reference_of(meta):
    """The `ModelReference` of a loaded model, or None when it came from a module."""
    if meta.get('sha256') is None:
        return None
    if meta.get('weights'):
        return ModelReference(meta['weights'], meta['weights'], meta['sha256'])
    source = meta.get('source')
    if source is None:
        return None
    if os.path.exists(source):
        source = os.path.abspath(source)
    return ModelReference(source, source, meta['sha256'])


@dataclass(frozen=True)
class EnsembleSpec:
    """
    The models of an ensemble as another process loads them.

    Attributes
    ----------
    references : tuple of `~astro_clusterclass.models.ModelReference`
        One per member, in order: what to load and the SHA-256 it must have.

    Examples
    --------
    >>> from astro_clusterclass.classify import EnsembleSpec
    >>> spec = EnsembleSpec.from_models(['compactnet', 'CompactNet_Weights.SIM_V1'])
    >>> [ref.source for ref in spec.references]
    ['CompactNet_Weights.SIM_V1', 'CompactNet_Weights.SIM_V1']
    """

    references: tuple

    @classmethod
    def from_models(cls, models=None):
        """
        The spec of model sources, without loading them (files and URLs are hashed).

        ``models`` is as for `Ensemble`, except that modules are refused
        (`TypeError`): other processes cannot receive them.
        """
        return cls(tuple(model_reference(source) for source in _as_list(models)))

    @property
    def identities(self):
        """``[{'source': ..., 'sha256': ...}]`` of the members."""
        return [{'source': ref.source, 'sha256': ref.sha256} for ref in self.references]


@dataclass
class Member:
    """
    One model of an `Ensemble`.

    Attributes
    ----------
    label : str
        Its name in result columns (``class_<label>``): the architecture,
        numbered when several members share it.
    meta : dict
        The model's metadata (``architecture``, ``sha256``, ``source``...).
    transform : `~astro_clusterclass.preprocessing.StampTransform`
        How it turns pixels into its input.
    reference : `~astro_clusterclass.models.ModelReference` or None
        How another process loads it (None for a model given as a module).
    module : `torch.nn.Module` or None
        The inference copy (None in an ensemble made by `Ensemble.from_metadata`).
    """

    label: str
    meta: dict
    transform: StampTransform
    reference: Any = None
    module: Any = None


class Ensemble:
    """
    One model or several, prepared for inference on one device at one precision.

    Parameters
    ----------
    models : model source or list of them, optional
        Each a registered weights or model name, a checkpoint file or URL,
        a `~astro_clusterclass.models.Weights` record or weights enum
        member, or a model from `~astro_clusterclass.models.get_model` /
        `~astro_clusterclass.models.load_model`. Default: the installed
        default model (`~astro_clusterclass.models.default_weights`).
        Every model must predict the classes 1-4.
    device : str or `torch.device`, optional
        ``'auto'`` (a CUDA GPU when present, else the CPU), ``'cpu'``,
        ``'cuda'``...
    precision : {'auto', 'fp32', 'bf16', 'int8'}, optional
        Compute precision (weights cast once); see
        `~astro_clusterclass.classify.resolve_precision`. ``'int8'``
        (CPU only, never chosen by ``'auto'``) quantizes every member
        after calibrating it on stamps, and is refused unless it gives the
        fp32 classes (see Notes).
    calibration_stamps : `~astro_clusterclass.cutouts.Cutouts` or array, optional
        With ``precision='int8'``: stamps to calibrate and check the int8
        copies on now (as for `predict`; at least a few hundred, of images
        like those to classify). Default: the first job calibrates on
        `~astro_clusterclass.classify.INT8_CALIBRATION_SIZE` of its own
        stamps (see `calibrate_int8`).

    Raises
    ------
    QuantizationRefusedError
        With ``precision='int8'``, if the int8 classes of the calibration
        stamps differ from the fp32 classes too often (the message gives
        the figure); also raised by the first `predict` or
        `classify_positions` that calibrates.

    Notes
    -----
    The models are loaded one at a time, largest first, and only their
    inference copies stay (folded, fused, cast, channels-last), which
    keeps the peak memory low.

    ``precision='int8'`` uses PyTorch's post-training static quantization
    (FX graph mode, the engine's default settings; see
    `~astro_clusterclass.classify.Int8Module`). Activation ranges are
    calibrated on stamps: ``calibration_stamps``, or else a sample spread
    over the first job's candidates (the first `predict` or
    `classify_positions` call; a `classify_table` job). The same stamps are
    classified in fp32 and in int8, and int8 is used only if every member's
    class and the ensemble's mode agree for at least
    `~astro_clusterclass.classify.INT8_MIN_AGREEMENT` of them; the
    figures are in ``int8`` and in `models_meta`. Once calibrated, the
    ensemble keeps its int8 copies for every later job.

    On the CPU the members run at once, each in its own thread with one
    intra-op thread, as many as torch has threads (``member_threads``, set it
    to 1 for one member at a time on all threads), costliest first, when
    the work can be shared evenly (no member costs more than an equal
    share); the results are those of members run one after the other.
    ResNet18 members run in batches of at least 128 stamps (their late
    layers see 1-2 px maps at 32 px).

    Attributes
    ----------
    member_threads : int or None
        Members computed at once on the CPU (None: ``torch.get_num_threads()``).
    int8 : dict or None
        The int8 calibration record (`calibrate_int8`).

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.classify import Ensemble
    >>> ensemble = Ensemble('compactnet', precision='fp32')
    >>> ensemble.labels, ensemble.stamp_size, ensemble.precision
    (['compactnet'], 32, 'fp32')
    >>> stamps = np.random.default_rng(0).normal(size=(3, 5, 32, 32)).astype('f4')
    >>> ensemble.predict(stamps).shape      # (stamps, members, classes)
    (3, 1, 4)
    >>> ensemble.result_columns()[:3]
    ['class_flag', 'class_compactnet', 'class_mode']
    """

    def __init__(self, models=None, *, device='auto', precision='auto',
                 calibration_stamps=None):
        self._resolve(device, precision)
        if calibration_stamps is not None and self.precision != 'int8':
            msg = (f"calibration_stamps is for precision='int8'; this ensemble runs in "
                   f"{self.precision!r}")
            raise ValueError(msg)
        sources = _as_list(models)
        order = sorted(range(len(sources)), key=lambda i: -_load_size(sources[i]))
        loaded = [None] * len(sources)
        for index in order:
            loaded[index] = self._prepare(load_model(sources[index], categories=CLASSES))
        self._set_members([m for m, _ in loaded], [r for _, r in loaded])
        if calibration_stamps is not None:
            self.calibrate_int8(calibration_stamps)

    # -- construction --------------------------------------------------------

    def _resolve(self, device, precision):
        self.device = resolve_device(device)
        self.precision, self.dtype = resolve_precision(check_precision(precision), self.device)
        #: The int8 calibration record (None until calibrated, and for other precisions).
        self.int8 = None
        #: Members computed at once on the CPU (None: torch's thread count).
        self.member_threads = None
        if self.precision == 'int8':
            self.dtype = torch.float32  # the fp32 copies are calibrated, then quantized

    def _prepare(self, model, reference=None):
        """The inference copy of a loaded model and its reference; drops the original."""
        if model.meta.get('inference'):
            msg = ('models: got an inference copy (from prepare_for_inference); pass the '
                   'original model, its checkpoint or its registry name')
            raise ValueError(msg)
        transform = StampTransform.from_meta(model.meta)
        if reference is None:
            reference = _reference_of(model.meta)
        module = prepare_for_inference(model, input_size=transform.size, device=self.device,
                                       dtype=self.dtype, channels_last=True)
        return module, reference

    def _set_members(self, modules_or_metas, references, *, prepared=True):
        metas = [m.meta if prepared else m for m in modules_or_metas]
        self.members = [
            Member(label=label, meta=meta, transform=StampTransform.from_meta(meta),
                   reference=reference, module=module if prepared else None)
            for label, meta, reference, module in zip(_labels(metas), metas, references,
                                                      modules_or_metas)]

    @classmethod
    def from_spec(cls, spec, *, device='auto', precision='auto'):
        """
        Rebuild an ensemble from its `EnsembleSpec` (in another process).

        Each model is loaded from its reference and must have the SHA-256
        recorded there.

        Raises
        ------
        ValueError
            If a file differs from the one the spec was made from (the
            message names the host: every process must see the same files).

        Examples
        --------
        >>> from astro_clusterclass.classify import Ensemble, EnsembleSpec
        >>> spec = EnsembleSpec.from_models('compactnet')
        >>> Ensemble.from_spec(spec, precision='fp32').labels
        ['compactnet']
        """
        self = cls.__new__(cls)
        self._resolve(device, precision)
        if self.precision == 'int8':
            msg = ("precision='int8' calibrates on the caller's stamps, so it is not offered "
                   "where an ensemble is rebuilt from a spec (each Dask worker would calibrate "
                   "on its own chunks and the classes would depend on the scheduling); use "
                   "precision='fp32' or 'bf16'")
            raise ValueError(msg)
        refs = list(spec.references)
        order = sorted(range(len(refs)), key=lambda i: -_load_size(refs[i].loadable))
        loaded = [None] * len(refs)
        for index in order:
            ref = refs[index]
            model = load_model(ref.loadable, categories=CLASSES)
            if model.meta.get('sha256') != ref.sha256:
                msg = (f'models: {ref.source!r} loaded on {socket.gethostname()} has sha256 '
                       f'{model.meta.get("sha256")}, but the spec records {ref.sha256}; '
                       f'every process must see the same files')
                raise ValueError(msg)
            loaded[index] = self._prepare(model, ref)
        self._set_members([m for m, _ in loaded], [r for _, r in loaded])
        return self

    @classmethod
    def from_metadata(cls, metas, *, device='auto', precision='auto', spec=None):
        """
        An ensemble that knows its members' metadata but holds no networks.

        It names result columns and builds result tables (as the client of
        a Dask run does from what its workers report) but cannot predict.

        Examples
        --------
        >>> from astro_clusterclass.classify import Ensemble
        >>> from astro_clusterclass.models import get_model
        >>> metas = [get_model('compactnet').meta, get_model('compactnet').meta]
        >>> Ensemble.from_metadata(metas).labels
        ['compactnet_1', 'compactnet_2']
        """
        self = cls.__new__(cls)
        self.device = device if isinstance(device, torch.device) else None
        self.precision = precision
        self.dtype = None
        self.int8 = None
        self.member_threads = None
        references = list(spec.references) if spec is not None else [None] * len(metas)
        self._set_members(list(metas), references, prepared=False)
        return self

    # -- description ---------------------------------------------------------

    def __len__(self):
        return len(self.members)

    def __repr__(self):
        return (f'<Ensemble of {len(self)} model(s) {self.labels} on {self.device}, '
                f'{self.precision}>')

    @property
    def labels(self):
        """Column labels of the members, in order."""
        return [m.label for m in self.members]

    @property
    def metas(self):
        """Metadata of the members, in order."""
        return [m.meta for m in self.members]

    @property
    def categories(self):
        """The classes every member predicts (1-4)."""
        return list(CLASSES)

    @property
    def stamp_size(self):
        """
        Side of the stamps the ensemble cuts (centred on the nearest pixel).

        Large enough to hold every member's own stamp; each member then
        takes its crop (`~astro_clusterclass.preprocessing.StampTransform.crop`).
        """
        return max(m.transform.source_size(_CUT_SHIFT) for m in self.members)

    @property
    def spec(self):
        """
        The `EnsembleSpec` another process rebuilds this ensemble from.

        Raises
        ------
        TypeError
            If a member was given as a module (save it with
            `~astro_clusterclass.models.save_checkpoint` first).
        """
        missing = [m.label for m in self.members if m.reference is None]
        if missing:
            msg = (f'models {missing} were given as modules, which other processes cannot '
                   f'load; save them with astro_clusterclass.models.save_checkpoint and '
                   f'pass the files')
            raise TypeError(msg)
        return EnsembleSpec(tuple(m.reference for m in self.members))

    def models_meta(self):
        """
        The ``meta['classification']['models']`` entries of a classified table.

        In an int8 ensemble each entry has ``int8``: the quantized engine,
        the calibration stamps (number, where they came from) and the
        fraction of them whose int8 class equals the fp32 class.
        """
        out = [{'label': m.label, 'architecture': m.meta['architecture'],
                'weights': m.meta.get('weights'), 'sha256': m.meta.get('sha256'),
                'source': m.meta.get('source'), 'cutout_size': m.meta['cutout_size'],
                'normalization': m.meta['normalization'],
                'transform': m.transform.to_dict(), 'init': m.meta.get('init'),
                'num_params': m.meta['num_params'], 'trained_on': trained_on(m.meta)}
               for m in self.members]
        if self.int8 is not None:
            for entry in out:
                label = entry['label']
                entry['int8'] = {'engine': self.int8['engine'],
                                 'calibration_stamps': self.int8['n_calibration'],
                                 'check_stamps': self.int8['n_stamps'],
                                 'calibrated_on': self.int8['source'],
                                 'agreement_with_fp32': self.int8['members'][label],
                                 'ensemble_mode_agreement': self.int8['mode'],
                                 'fp32_margin': self.int8['margin'][label],
                                 'fp32_fallback': self.int8['fallback'][label]}
        return out

    def check_training_domain(self, images):
        """
        Warn when a model trained on simulations classifies images that are not simulated.

        Parameters
        ----------
        images : `~astro_clusterclass.images.BandImages`

        Returns
        -------
        entry : dict
            For ``meta['classification']['training_domain']``:
            ``images_simulated`` (`images_simulated`), ``trained_on_simulations``
            (labels of the members whose metadata says so,
            `~astro_clusterclass.models.trained_on`) and ``warning`` (the
            message, or None).

        Warns
        -----
        `~astropy.utils.exceptions.AstropyUserWarning`
            If a member was trained on simulations and the images are not
            simulated: its classes of real galaxies are not to be trusted.
        """
        simulated = images_simulated(images)
        labels = [m.label for m in self.members if trained_on(m.meta) == 'simulations']
        message = None
        if labels and not simulated:
            message = (f'models {labels} were trained on simulated fields only, and these '
                       f'images are not simulated (no SIMULATE = T in their FITS headers): '
                       f'their classes of real galaxies are not validated. '
                       f'{REAL_DATA_RECIPE}')
            warnings.warn(message, AstropyUserWarning, stacklevel=3)
        return {'images_simulated': simulated, 'trained_on_simulations': labels,
                'warning': message}

    # -- prediction ----------------------------------------------------------

    def _check_prepared(self):
        if any(m.module is None for m in self.members):
            msg = ('this Ensemble holds metadata only (Ensemble.from_metadata) and cannot '
                   'predict; build it from the models')
            raise RuntimeError(msg)

    def _inputs(self, stamps, positions, batch_size):
        """Yield ``(member indices, inputs)`` per stamp transform: cropped, normalised."""
        n = stamps.shape[0]
        stamps = stamps.to(self.device, non_blocking=True)
        groups = {}
        for j, member in enumerate(self.members):
            groups.setdefault(member.transform, []).append(j)
        for transform, indices in groups.items():
            cropped = transform.crop(stamps, **positions)
            x = torch.empty((n, stamps.shape[1], transform.size, transform.size),
                            dtype=self.dtype, device=self.device,
                            memory_format=torch.channels_last)
            # Normalise a few batches at a time: its temporaries are several
            # times the stamps' size.
            step = 8 * batch_size
            for b in range(0, n, step):
                x[b:b + step] = transform.normalization.apply(cropped[b:b + step].float())
            yield indices, x
            del x, cropped

    @staticmethod
    def _run(module, x, batch_size, out):
        """Softmax probabilities of ``module`` for inputs ``x``, into ``out`` ``(n, K)``."""
        for b in range(0, x.shape[0], batch_size):
            logits = module(x[b:b + batch_size])
            out[b:b + batch_size] = torch.softmax(logits.float(), dim=1).cpu()

    def _cost(self, j):
        """FLOPs of one stamp through member j (counted once, on its fp32 copy)."""
        costs = self.__dict__.setdefault('_costs', {})
        if j not in costs:
            from torch.utils.flop_counter import FlopCounterMode
            member = self.members[j]
            module = getattr(member.module, 'fallback', None) or member.module
            size = member.transform.size
            x = torch.zeros((1, 5, size, size), dtype=self.dtype, device=self.device)
            with torch.inference_mode(), FlopCounterMode(display=False) as counter:
                module(x.contiguous(memory_format=torch.channels_last))
            costs[j] = max(counter.get_total_flops(), 1)
        return costs[j]

    def _schedule(self, indices):
        """
        Members in order of decreasing cost, and how many run at once.

        On the CPU up to torch's thread count (or ``member_threads``), but only
        when the costliest member is no more than an equal share of the work:
        otherwise it would run alone on one thread at the end.
        """
        if self.device.type != 'cpu' or len(indices) < 2:
            return list(indices), 1
        wanted = self.member_threads
        threads = torch.get_num_threads() if wanted is None else positive_int(
            wanted, 'member_threads')
        workers = max(1, min(threads, len(indices)))
        if workers == 1:
            return list(indices), 1
        costs = {j: self._cost(j) for j in indices}
        order = sorted(indices, key=lambda j: -costs[j])
        if costs[order[0]] > sum(costs.values()) / workers:
            return list(indices), 1
        return order, workers

    def _pool(self, workers):
        pool = getattr(self, '_thread_pool', None)
        if pool is None or pool._max_workers != workers:
            if pool is not None:
                pool.shutdown()
            # Each thread computes with one intra-op thread: several small
            # networks at once keep the cores busier than one network on all.
            pool = ThreadPoolExecutor(workers, initializer=_single_thread,
                                      thread_name_prefix='clusterclass-member')
            self._thread_pool = pool
        return pool

    def _forward(self, stamps, positions, batch_size):
        """Probabilities ``(n, M, K)`` for a tensor of stamps (the one place models run)."""
        n = stamps.shape[0]
        out = torch.empty((n, len(self.members), len(CLASSES)), dtype=torch.float32)

        def member(j):
            arch = self.members[j].meta.get('architecture')
            with torch.inference_mode():
                self._run(self.members[j].module, x, max(batch_size, _MIN_BATCH.get(arch, 0)),
                          out[:, j])

        quiet = (quiet_int8(self.int8['engine']) if self.int8 is not None
                 else contextlib.nullcontext())
        with quiet:
            for indices, x in self._inputs(stamps, positions, batch_size):
                order, workers = self._schedule(indices)
                if workers > 1:
                    list(self._pool(workers).map(member, order))
                else:
                    for j in indices:
                        member(j)
        return out.numpy()

    # -- int8 ------------------------------------------------------------------

    def calibrate_int8(self, stamps, *, batch_size=32, source='given'):
        """
        Calibrate the int8 copies on stamps, check them against fp32, and use them.

        Each member's fp32 inference copy observes the activations of the
        even-numbered ``stamps`` (computing their fp32 probabilities), is
        converted to int8 and classifies all the stamps again. Stamps whose
        two most probable int8 classes are closer than twice the largest
        change of a probability int8 made on the even-numbered stamps are
        recomputed in fp32 (close calls); the odd-numbered stamps, which the
        calibration never saw, are the check. The int8
        copies replace the fp32 ones only if every member's classes and the
        ensemble's modes agree with fp32 for at least
        `~astro_clusterclass.classify.INT8_MIN_AGREEMENT` of the check
        stamps, and no member recomputes more than
        `~astro_clusterclass.classify.INT8_MAX_FALLBACK` of them; otherwise
        nothing changes and the error gives the figure. Stamps with
        non-finite pixels, and cutouts with flags in `DEFAULT_SKIP_FLAGS`,
        are left out. The fp32 copies stay in memory for the close calls.

        Parameters
        ----------
        stamps : `~astro_clusterclass.cutouts.Cutouts` or array ``(N, 5, S, S)``
            As for `predict`: a few hundred stamps of images like those to
            classify (with fewer than 200 a single changed class refuses).
        batch_size : int, optional
        source : str, optional
            Where the stamps came from (recorded in ``int8``).

        Returns
        -------
        agreement : dict
            ``int8``: ``engine``, ``source``, ``n_calibration`` (stamps
            given and used: half calibrate, half check), ``n_stamps``
            (check stamps), ``members`` (label →
            fraction of equal classes on the check stamps), ``mode``,
            ``worst``, ``minimum``, ``max_prob_diff``, ``margin`` and
            ``fallback`` (label → fp32 margin and fraction of check stamps
            recomputed), ``int8_only`` (label → agreement of int8 alone, on
            all calibration stamps).

        Raises
        ------
        QuantizationRefusedError
            If the agreement is too low (or no usable stamps were given).
        ValueError
            If the ensemble's precision is not ``'int8'``, or a member
            cannot be quantized.

        Examples
        --------
        >>> from astro_clusterclass import make_cutouts
        >>> from astro_clusterclass.classify import Ensemble
        >>> from astro_clusterclass.datasets import make_cluster_field
        >>> field = make_cluster_field((800, 800), 600, seed=3)
        >>> ensemble = Ensemble('compactnet', precision='int8')
        >>> cut = make_cutouts(field.images, field.candidates, size=ensemble.stamp_size)
        >>> good = cut.data[cut.flags == 0]
        >>> figures = ensemble.calibrate_int8(good)
        >>> figures['worst'] >= 0.995, figures['n_calibration'] == len(good)
        (True, True)
        >>> ensemble.predict(good[:3]).shape
        (3, 1, 4)
        """
        self._check_prepared()
        if self.precision != 'int8':
            msg = f"calibrate_int8 needs precision='int8'; this ensemble runs in {self.precision!r}"
            raise ValueError(msg)
        batch_size = positive_int(batch_size, 'batch_size')
        usable = None
        if isinstance(stamps, Cutouts):
            usable = (stamps.flags & np.uint8(DEFAULT_SKIP_FLAGS)) == 0
        data, positions = _stamp_array(stamps, 'stamps')
        finite = np.isfinite(data).all(axis=(1, 2, 3))
        if usable is not None:
            finite &= usable
        if not finite.all():
            data = data[finite]
            positions = {k: np.asarray(v)[finite] for k, v in positions.items()}
        engine = quantization_engine(self.device)
        n, m, k = data.shape[0], len(self.members), len(CLASSES)
        reference = torch.empty((n, m, k), dtype=torch.float32)
        quantized = torch.empty((n, m, k), dtype=torch.float32)
        converted, originals = {}, {}
        if n:
            with torch.no_grad():
                for indices, x in self._inputs(torch.from_numpy(data), positions, batch_size):
                    for j in indices:
                        module = self.members[j].module
                        if isinstance(module, Int8Module):
                            msg = 'calibrate_int8: this ensemble is already calibrated'
                            raise ValueError(msg)
                        # Ranges from the even-numbered stamps; the odd ones stay unseen.
                        observing = Int8Module.observe(module, x[:1], engine=engine)
                        self._run(observing, x[0::2], batch_size, reference[0::2, j])
                        self._run(module, x[1::2], batch_size, reference[1::2, j])
                        converted[j], originals[j] = observing.convert(), module
                        del observing
                        self._run(converted[j], x, batch_size, quantized[:, j])
        reference, quantized = reference.numpy(), quantized.numpy()
        alone = int8_agreement(reference, quantized, self.labels, minimum=0.0,
                               min_stamps=1) if n else {}
        # Margins from the even-numbered stamps; the odd-numbered ones check them.
        margins, fallback = {}, {}
        checked = quantized[1::2].copy()
        for j, label in enumerate(self.labels):
            change = np.abs(quantized[0::2, j] - reference[0::2, j])
            margins[label] = float(min(2.0 * change.max(), 1.0)) if change.size else 1.0
            close = close_calls(quantized[1::2, j], margins[label])
            checked[close, j] = reference[1::2][close, j]
            fallback[label] = float(close.mean()) if close.size else 1.0
        agreement = int8_agreement(reference[1::2], checked, self.labels, fallback=fallback)
        for j, module in converted.items():
            self.members[j].module = module.guarded(originals[j], margins[self.labels[j]])
        self.int8 = {'engine': engine, 'source': source, 'n_calibration': int(n), **agreement,
                     'margin': margins, 'int8_only': alone.get('members', {})}
        return self.int8

    def _calibrate_on(self, data, positions, batch_size):
        """Calibrate on a sample spread over stamps of the first job (int8, not yet done)."""
        n = data.shape[0]
        keep = _spread(n, INT8_CALIBRATION_SIZE)
        sample = {key: np.asarray(value)[keep] for key, value in positions.items()}
        self.calibrate_int8(_StampSample(data[keep], sample), batch_size=batch_size,
                            source=f'{len(keep)} stamps spread over the first job')

    def _calibrate_on_job(self, images, x, y, order, skip, batch_size):
        """Calibrate on stamps spread over the job's candidates (in y order)."""
        finite = order[np.isfinite(x[order]) & np.isfinite(y[order])]
        pick = finite[_spread(len(finite), 2 * INT8_CALIBRATION_SIZE)]
        cut = make_cutouts(images, (x[pick], y[pick]), size=self.stamp_size)
        good = np.flatnonzero((cut.flags & skip) == 0)
        good = good[_spread(len(good), INT8_CALIBRATION_SIZE)]
        positions = {'x0': cut.x0[good], 'y0': cut.y0[good], 'x': cut.x[good],
                     'y': cut.y[good]}
        self.calibrate_int8(_StampSample(cut.data[good], positions), batch_size=batch_size,
                            source=f'{len(good)} stamps spread over the first job')

    def predict(self, stamps, *, batch_size=32):
        """
        Class probabilities of every member for stamps in memory.

        Parameters
        ----------
        stamps : `~astro_clusterclass.cutouts.Cutouts` or array ``(N, 5, S, S)``
            Raw stamps (bands in order). Cutouts carry their positions, so
            each member crops by its own centring rule; an array is taken
            to be centred on its candidates (position = pixel ``S // 2``).
            ``S`` must hold every member's stamp (`stamp_size` does).
        batch_size : int, optional
            Stamps per forward pass.

        Returns
        -------
        probabilities : `~numpy.ndarray`
            ``(N, M, 4)`` float32: member m's probabilities of classes 1-4.
        """
        self._check_prepared()
        batch_size = positive_int(batch_size, 'batch_size')
        array, positions = _stamp_array(stamps, 'stamps')
        if self.precision == 'int8' and self.int8 is None:
            self._calibrate_on(array, positions, batch_size)
        with torch.inference_mode():
            return self._forward(torch.from_numpy(array), positions, batch_size)

    def classify_positions(self, images, x, y, *, batch_size=32, chunk_size=1024,
                           skip_flags=DEFAULT_SKIP_FLAGS, release_pages=False,
                           progress=False):
        """
        Flags, probabilities and classified mask of candidates at pixel positions.

        Positions are processed in order of y, ``chunk_size`` at a time, so
        that each chunk reads one strip of the (memory-mapped) mosaic;
        results come back in input order.

        Parameters
        ----------
        images : `~astro_clusterclass.images.BandImages`
        x, y : array-like
            0-based pixel positions (NaN allowed: flagged OFF_IMAGE).
        batch_size, chunk_size : int, optional
        skip_flags : `~astro_clusterclass.cutouts.CutoutFlag`, optional
            Stamps with any of these flags are not classified.
        release_pages : bool, optional
            Hand the pages of memory-mapped images back to the operating
            system after every chunk (only for images the caller opened).
        progress : bool, optional
            A tqdm progress bar (candidates).

        Returns
        -------
        flags : `~numpy.ndarray`
            ``(n,)`` uint8 `~astro_clusterclass.cutouts.CutoutFlag` of the stamps cut.
        probabilities : `~numpy.ndarray`
            ``(n, M, 4)`` float32, NaN where not classified.
        done : `~numpy.ndarray`
            ``(n,)`` bool: classified.
        """
        self._check_prepared()
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        n, m, k = len(x), len(self.members), len(CLASSES)
        size = self.stamp_size
        probs = np.full((n, m, k), np.nan, dtype=np.float32)
        flags = np.zeros(n, dtype=np.uint8)
        done = np.zeros(n, dtype=bool)
        maps = _pages.page_maps(images) if release_pages else []
        skip = np.uint8(skip_flags)
        order = np.argsort(np.where(np.isfinite(y), y, np.inf), kind='stable')
        if self.precision == 'int8' and self.int8 is None and n:
            self._calibrate_on_job(images, x, y, order, skip, batch_size)
            _pages.release_pages(maps)
        with torch.inference_mode(), tqdm(total=n, unit='cand', desc='classify',
                                          disable=not progress) as bar:
            for start, cut in iter_cutouts(images, (x[order], y[order]), size=size,
                                           chunk_size=chunk_size):
                index = order[start:start + len(cut)]
                flags[index] = cut.flags
                rows = np.flatnonzero((cut.flags & skip) == 0)
                if rows.size:
                    whole = rows.size == len(cut)
                    data = cut.data if whole else cut.data[rows]
                    positions = {'x0': cut.x0[rows], 'y0': cut.y0[rows],
                                 'x': cut.x[rows], 'y': cut.y[rows]}
                    p = self._forward(torch.from_numpy(data), positions, batch_size)
                    # A row with a non-finite probability from any model gets no class.
                    bad = ~np.isfinite(p).all(axis=(1, 2))
                    p[bad] = np.nan
                    probs[index[rows]] = p
                    done[index[rows]] = ~bad
                    flags[index[rows[bad]]] |= np.uint8(ClassFlag.NONFINITE_PROBABILITY)
                del cut
                _pages.release_pages(maps)
                bar.update(len(index))
        return flags, probs, done

    # -- results -------------------------------------------------------------

    def result_columns(self, *, return_probabilities=False, calibrated=False):
        """Names of the columns a classification adds, in order."""
        labels = self.labels
        return (['class_flag'] + [f'class_{lb}' for lb in labels]
                + ([f'prob_{lb}' for lb in labels] if return_probabilities else [])
                + list(ENSEMBLE_COLUMNS) + [f'prob_{k}' for k in CLASSES]
                + ([f'prob_raw_{k}' for k in CLASSES] if calibrated else [])
                + list(UNCERTAINTY_COLUMNS))

    def check_columns(self, tbl, *, return_probabilities=False, calibrated=False,
                      parameter='tbl'):
        """Refuse a table that already has a column the classification adds."""
        clash = [name for name in self.result_columns(return_probabilities=return_probabilities,
                                                      calibrated=calibrated)
                 if name in tbl.colnames]
        if clash:
            msg = (f'{parameter} already has the columns {clash}; remove or rename them before '
                   f'classifying again')
            raise ValueError(msg)

    def calibration(self, calibration):
        """
        The `~astro_clusterclass.calibration.Calibration` meant by ``calibration``, checked.

        Parameters
        ----------
        calibration : None, ``'stored'``, `~astro_clusterclass.calibration.Calibration` or path
            None: none; ``'stored'``: the one stored with the models
            (`~astro_clusterclass.calibration.stored_calibration`); a
            calibration, or the path of a calibration file.

        Returns
        -------
        calibration : `~astro_clusterclass.calibration.Calibration` or None
        provenance : dict or None
            For ``meta['classification']['calibration']``: the calibration
            record (`~astro_clusterclass.calibration.Calibration.to_dict`:
            method, fitted values, the data and scores of the fit), where it
            came from (``source``: ``'given'``, a file, a checkpoint) and
            what it was applied to.

        Raises
        ------
        ValueError
            If nothing is stored, or the calibration was fitted for other
            models or classes.
        """
        if calibration is None:
            return None, None
        if isinstance(calibration, str) and calibration == 'stored':
            cal, where = stored_calibration(self.metas)
            if cal is None:
                msg = ("calibration='stored': no calibration is stored with these models (a "
                       "'calibration' entry in the metadata of a single model's checkpoint, "
                       f"or a *.calibration.json file beside the checkpoints for models "
                       f"{[m.get('sha256') for m in self.metas]}); fit one with "
                       "astro_clusterclass.calibration.fit_calibration and save it there, or "
                       "pass it as calibration=")
                raise ValueError(msg)
        elif isinstance(calibration, Calibration):
            cal, where = calibration, 'given'
        elif isinstance(calibration, (str, os.PathLike)):
            cal, where = read_calibration(calibration), os.fspath(calibration)
        else:
            msg = ("calibration must be None, 'stored', a Calibration or the path of a "
                   f"calibration file, got {type(calibration).__name__}")
            raise TypeError(msg)
        if tuple(cal.categories) != tuple(CLASSES):
            msg = f'calibration is for the classes {list(cal.categories)}, not {list(CLASSES)}'
            raise ValueError(msg)
        shas = tuple(m.get('sha256') for m in self.metas)
        if cal.models is not None and cal.models != shas:
            msg = (f'calibration was fitted for the models {list(cal.models)} but this '
                   f'ensemble has {list(shas)}; fit one for these models')
            raise ValueError(msg)
        info = {'source': where,
                'applied_to': ('prob_1..prob_4 (the mean over the models); the values before '
                               'calibration are in prob_raw_1..prob_raw_4'),
                **cal.to_dict()}
        return cal, info

    def results_table(self, tbl, flags, probs, done, *, return_probabilities=False,
                      calibration=None):
        """
        A copy of ``tbl`` (rows and meta) with the classification columns.

        ``probs`` holds NaN where ``done`` is False. ``calibration`` (a
        `~astro_clusterclass.calibration.Calibration`) is applied to the
        mean probabilities, whose uncalibrated values go to
        ``prob_raw_<k>``. Provenance is the caller's
        (``meta['classification']``).
        """
        out = QTable(tbl, copy=True)
        labels = self.labels
        m, k = len(labels), len(CLASSES)
        categories = np.asarray(CLASSES)
        best = np.argmax(np.nan_to_num(probs, nan=-1.0), axis=2)
        classes = np.ma.MaskedArray(categories[best], mask=np.repeat(~done[:, None], m, axis=1))
        out['class_flag'] = flags
        out['class_flag'].description = ('ClassFlag bits: the CutoutFlag bits of the stamp '
                                         "(see skip_flags in meta['classification']) and "
                                         'NONFINITE_PROBABILITY (16)')
        for j, label in enumerate(labels):
            out[f'class_{label}'] = MaskedColumn(classes[:, j].filled(0).astype(np.int64),
                                                 mask=~done)
        if return_probabilities:
            for j, label in enumerate(labels):
                out[f'prob_{label}'] = MaskedColumn(np.nan_to_num(probs[:, j], nan=0.0),
                                                    mask=np.repeat(~done[:, None], k, axis=1))
        for name, column in consolidate(classes, np.nan_to_num(probs, nan=0.0)).columns.items():
            out[name] = column
        mean = np.stack([np.ma.filled(out[f'prob_{c}'], np.nan) for c in CLASSES], axis=1)
        if calibration is not None:
            for c in CLASSES:
                out[f'prob_raw_{c}'] = out[f'prob_{c}']
                out[f'prob_raw_{c}'].description = (f'mean probability of class {c} over the '
                                                    f'models, before calibration')
            mean = calibration.apply(mean, kind='probabilities')
            for j, c in enumerate(CLASSES):
                out[f'prob_{c}'] = MaskedColumn(np.nan_to_num(mean[:, j]), mask=~done)
        for c in CLASSES:
            out[f'prob_{c}'].description = (
                f'probability of class {c}: mean over the models'
                + (", calibrated (meta['classification']['calibration'])" if calibration
                   else ''))
        values = {'prob_entropy': entropy(mean), 'prob_margin': margin(mean),
                  'prob_mutual_info': mutual_information(probs)}
        for name, description in UNCERTAINTY_COLUMNS.items():
            out[name] = MaskedColumn(np.nan_to_num(values[name]), mask=~done)
            out[name].description = description
        return out

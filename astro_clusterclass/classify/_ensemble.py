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

import os
import socket
import warnings
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
from ..cutouts import CutoutFlag, Cutouts, iter_cutouts
from ..models import (REAL_DATA_RECIPE, ModelReference, default_weights, load_model,
                      model_reference, trained_on,
                      prepare_for_inference)
from ..preprocessing import StampTransform
from ._consolidate import ENSEMBLE_COLUMNS, consolidate
from ._device import check_precision, resolve_device, resolve_precision
from . import _pages

__all__ = ['Ensemble', 'EnsembleSpec', 'Member', 'DEFAULT_SKIP_FLAGS', 'ClassFlag',
           'images_simulated']

#: Stamps with any of these flags are not classified by default.
DEFAULT_SKIP_FLAGS = (CutoutFlag.EDGE | CutoutFlag.OFF_IMAGE | CutoutFlag.NONFINITE
                      | CutoutFlag.MISSING_BAND)

#: The centring rule of the stamps the engine cuts (`~astro_clusterclass.make_cutouts`).
_CUT_SHIFT = 0.5


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
    precision : {'auto', 'fp32', 'bf16'}, optional
        Compute precision (weights cast once); see
        `~astro_clusterclass.classify.resolve_precision`.

    Notes
    -----
    The models are loaded one at a time, largest first, and only their
    inference copies stay (folded, fused, cast, channels-last), which
    keeps the peak memory low.

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

    def __init__(self, models=None, *, device='auto', precision='auto'):
        self._resolve(device, precision)
        sources = _as_list(models)
        order = sorted(range(len(sources)), key=lambda i: -_load_size(sources[i]))
        loaded = [None] * len(sources)
        for index in order:
            loaded[index] = self._prepare(load_model(sources[index], categories=CLASSES))
        self._set_members([m for m, _ in loaded], [r for _, r in loaded])

    # -- construction --------------------------------------------------------

    def _resolve(self, device, precision):
        self.device = resolve_device(device)
        self.precision, self.dtype = resolve_precision(check_precision(precision), self.device)

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
        """The ``meta['classification']['models']`` entries of a classified table."""
        return [{'label': m.label, 'architecture': m.meta['architecture'],
                 'weights': m.meta.get('weights'), 'sha256': m.meta.get('sha256'),
                 'source': m.meta.get('source'), 'cutout_size': m.meta['cutout_size'],
                 'normalization': m.meta['normalization'],
                 'transform': m.transform.to_dict(), 'init': m.meta.get('init'),
                 'num_params': m.meta['num_params'], 'trained_on': trained_on(m.meta)}
                for m in self.members]

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

    def _forward(self, stamps, positions, batch_size):
        """Probabilities ``(n, M, K)`` for a tensor of stamps (the one place models run)."""
        n = stamps.shape[0]
        out = torch.empty((n, len(self.members), len(CLASSES)), dtype=torch.float32)
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
            for j in indices:
                module = self.members[j].module
                for b in range(0, n, batch_size):
                    logits = module(x[b:b + batch_size])
                    out[b:b + batch_size, j] = torch.softmax(logits.float(), dim=1).cpu()
        return out.numpy()

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
        positions = {}
        if isinstance(stamps, Cutouts):
            positions = {'x0': stamps.x0, 'y0': stamps.y0, 'x': stamps.x, 'y': stamps.y}
            stamps = stamps.data
        array = np.ascontiguousarray(stamps, dtype=np.float32)
        if array.ndim != 4:
            msg = f'stamps must have shape (N, 5, S, S), got {array.shape}'
            raise ValueError(msg)
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
        with torch.inference_mode(), tqdm(total=n, unit='cand', desc='classify',
                                          disable=not progress) as bar:
            order = np.argsort(np.where(np.isfinite(y), y, np.inf), kind='stable')
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

"""
The model registry, in the shape of torchvision's models API.

Builders register under a name with `register_model` together with their
weights enum (a `WeightsEnum` whose members are `Weights` records);
`get_model` builds a network by name, `list_models` lists the names,
`get_model_weights` returns a builder's enum and `get_weight` finds a
record by its full name (``'CompactNet_Weights.DEFAULT'``).

Every network built here carries ``model.meta``, a dict with the keys of
:data:`REQUIRED_META` plus provenance, so that any model, trained or not,
says which bands, cutout size, normalisation and classes it expects.
"""

import fnmatch
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import torch
from torchvision.models import WeightsEnum as _TorchvisionWeightsEnum

from ..bands import BANDS
from ..classes import CLASSES
from ..preprocessing import StampNormalization, StampTransform
from ._checkpoint import REQUIRED_META, check_meta, load_checkpoint

__all__ = ['Weights', 'WeightsEnum', 'register_model', 'get_model', 'get_model_builder',
           'get_model_weights', 'get_weight', 'list_models', 'default_weights',
           'DEFAULT_CUTOUT_SIZE', 'WEIGHTS_DIR', 'REQUIRED_META', 'trained_on',
           'REAL_DATA_RECIPE']

#: Default stamp side (pixels) of new models, chosen by the held-out
#: accuracy of models trained at 32 and 64 px (see :doc:`/models`).
#: Models record their own size; this is only the default of new ones.
DEFAULT_CUTOUT_SIZE = 32

#: Folder of the weights files shipped with the package; a `Weights` whose
#: ``url`` has no scheme names a file in it.
WEIGHTS_DIR = Path(__file__).resolve().parent / 'weights'

#: Licence of weights made by this package unless a record says otherwise.
DEFAULT_LICENSE = 'BSD-3-Clause'

#: How to get a model for real HST images: shown by the errors that meet a
#: model without trained weights, and spelled out in :doc:`/real_data_models`.
REAL_DATA_RECIPE = (
    'To classify real HST images, get a model trained on real data: (1) StarcNet '
    "(Pérez et al. 2021), trained on LEGUS human classes: download model/starcnet.pth "
    'from https://github.com/gperezs/StarcNet, run "clusterclass import-model '
    'starcnet.pth --from starcnet -o starcnet.safetensors" and pass -m '
    'starcnet.safetensors (models="starcnet.safetensors"); (2) another group\'s PyTorch '
    'state dict of a registered architecture: "clusterclass import-model model.pth --from '
    'resnet18 --bands ... --cutout-size ... --normalization ... -o model.safetensors"; '
    '(3) train on your own human classes with "clusterclass train". See the '
    'documentation page "Models for real images" (real_data_models).')

#: Values of ``meta['trained_on']``: what the weights were trained on.
TRAINED_ON = ('simulations', 'real')


def trained_on(meta):
    """
    What a model's weights were trained on, from its metadata.

    Parameters
    ----------
    meta : dict
        ``model.meta`` or a weights record's ``meta``.

    Returns
    -------
    kind : {'simulations', 'real'} or None
        ``meta['trained_on']`` when recorded; for files written before the
        key existed, ``'simulations'`` when the training data description
        says so (``'Simulations only'``, written by
        `~astro_clusterclass.training.simulated_training_set`); `None`
        when nothing says (random weights, unknown provenance).

    Examples
    --------
    >>> from astro_clusterclass.models import CompactNet_Weights, get_model, trained_on
    >>> trained_on(CompactNet_Weights.DEFAULT.meta)
    'simulations'
    >>> trained_on({'trained_on': 'real'}), trained_on(get_model('compactnet').meta)
    ('real', None)
    """
    value = meta.get('trained_on')
    if value in TRAINED_ON:
        return value
    training = meta.get('training')
    data = training.get('data') if isinstance(training, dict) else None
    text = data.get('description', '') if isinstance(data, dict) else ''
    if isinstance(text, str) and 'Simulations only' in text:
        return 'simulations'
    return None


@dataclass(eq=False)
class Weights:
    """
    A weights record: where the file is, its hash and what it is for.

    Attributes
    ----------
    url : str
        ``https://``/``file://`` URL, or a file name inside
        :data:`WEIGHTS_DIR` (weights bundled with the package).
    sha256 : str
        SHA-256 hex digest of the file (checked on every load).
    meta : dict
        At least the keys of :data:`REQUIRED_META`: ``architecture``
        (registered builder name), ``config`` (builder keywords that fix
        the architecture), ``bands`` (input bands, in order),
        ``cutout_size`` (stamp side in pixels), ``normalization``
        (`~astro_clusterclass.preprocessing.StampNormalization.to_dict`),
        ``categories`` (class of each output, e.g. ``[1, 2, 3, 4]``),
        ``num_params``, ``stem_layer`` (name of the first convolution) and,
        customarily, ``stem_adaptation``, ``init``, ``training``
        (data, seeds, batches, learning rate, date, code version),
        ``metrics`` (accuracies on a held-out split) and ``license``.
    transforms : callable
        ``weights.transforms()`` builds the
        `~astro_clusterclass.preprocessing.StampTransform` the weights were
        trained with (stamp size, centring, normalisation), as in
        torchvision; derived from ``meta['transform']`` (or, in older
        files, ``meta['cutout_size']`` and ``meta['normalization']``).

    Examples
    --------
    >>> from astro_clusterclass.models import CompactNet_Weights
    >>> record = CompactNet_Weights.DEFAULT.value
    >>> record.url, record.sha256[:8], record.meta['cutout_size']
    ('compactnet_sim_v1-63034c0f.safetensors', '63034c0f', 32)
    >>> record.transforms().size, record.transforms().normalization
    (32, StampNormalization(method='asinh', softening=3.0))
    """

    url: str
    sha256: str
    meta: dict
    transforms: Callable = None

    def __post_init__(self):
        missing = [k for k in REQUIRED_META if k not in self.meta]
        if missing:
            msg = f'Weights.meta lacks the keys {missing}; required: {list(REQUIRED_META)}'
            raise ValueError(msg)
        if self.transforms is None:
            self.transforms = partial(StampTransform.from_meta, self.meta)

    def __eq__(self, other):
        if not isinstance(other, Weights):
            return NotImplemented
        return (self.url, self.sha256, self.meta) == (other.url, other.sha256, other.meta)


class WeightsEnum(_TorchvisionWeightsEnum):
    """
    Base class of the weights enums (one per architecture).

    Members are `Weights`; a ``DEFAULT`` member names the recommended one.
    Loading (`get_state_dict`) is hash-checked and never unpickles code.

    Examples
    --------
    >>> from astro_clusterclass.models import CompactNet_Weights, WeightsEnum
    >>> issubclass(CompactNet_Weights, WeightsEnum), CompactNet_Weights.SIM_V1 in CompactNet_Weights
    (True, True)
    >>> CompactNet_Weights.verify('CompactNet_Weights.DEFAULT')
    CompactNet_Weights.SIM_V1
    """

    @classmethod
    def verify(cls, obj):
        if obj is None or isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            key = obj.replace(cls.__name__ + '.', '')
            if key in cls.__members__:
                return cls.__members__[key]
            msg = (f'weights={obj!r} is not a member of {cls.__name__}; available: '
                   f'{list(cls.__members__) or "none yet"}')
            raise ValueError(msg)
        msg = (f'weights must be a {cls.__name__} member or its name, got '
               f'{type(obj).__name__}')
        raise TypeError(msg)

    @property
    def sha256(self):
        return self.value.sha256

    @property
    def location(self):
        """Local path (bundled weights) or URL of the file."""
        return resolve_location(self.value.url)

    def get_state_dict(self, *args: Any, progress: bool = False, **kwargs: Any):
        """Load, hash-check and validate the tensors of these weights."""
        state_dict, meta = load_checkpoint(self.location, sha256=self.sha256, progress=progress)
        check_meta(meta, expected=self.meta, what=f'checkpoint of {self!r}')
        return state_dict


def resolve_location(url):
    """Return a local path for bundled file names, the URL otherwise."""
    if urlparse(str(url)).scheme:
        return str(url)
    return os.fspath(WEIGHTS_DIR / url)


_BUILDERS = {}
_WEIGHT_ENUMS = {}

#: Architectures whose ``DEFAULT`` weights `default_weights` returns, in order
#: of preference.
_DEFAULT_ARCHITECTURES = ('compactnet', 'resnet18', 'vgg19_bn')


def register_model(name=None, *, weights=None):
    """
    Decorator registering a model builder under ``name``.

    Parameters
    ----------
    name : str, optional
        Registry name (default: the function name), lower case.
    weights : type, optional
        The builder's `WeightsEnum` subclass (may have no members yet).

    Raises
    ------
    ValueError
        If the name is taken.

    Examples
    --------
    A builder takes the keywords of `get_model` and returns a network with
    ``meta`` (see ``compact.py`` for a complete one)::

        @register_model(weights=MyNet_Weights)
        def mynet(*, weights=None, weights_backbone=None, progress=True, num_classes=None,
                  cutout_size=None, normalization=None):
            ...

    Names are unique:

    >>> from astro_clusterclass.models import register_model
    >>> register_model('resnet18')(lambda **config: None)
    Traceback (most recent call last):
    ...
    ValueError: a model is already registered under the name 'resnet18'
    """
    def wrapper(fn):
        key = (name or fn.__name__).lower()
        if key in _BUILDERS:
            msg = f'a model is already registered under the name {key!r}'
            raise ValueError(msg)
        if weights is not None and not (isinstance(weights, type)
                                        and issubclass(weights, WeightsEnum)):
            msg = f'weights must be a WeightsEnum subclass, got {weights!r}'
            raise TypeError(msg)
        _BUILDERS[key] = fn
        _WEIGHT_ENUMS[key] = weights
        return fn
    return wrapper


def list_models(include=None, exclude=None):
    """
    Names of the registered models.

    Parameters
    ----------
    include, exclude : str or iterable of str, optional
        Shell-style (``fnmatch``) patterns; a name is kept when it matches
        any ``include`` pattern (all names when omitted) and no ``exclude``
        pattern.

    Examples
    --------
    >>> from astro_clusterclass.models import list_models
    >>> list_models()
    ['compactnet', 'resnet18', 'starcnet', 'vgg19_bn']
    >>> list_models(include='vgg*')
    ['vgg19_bn']
    """
    def patterns(value):
        return [value] if isinstance(value, str) else list(value or [])
    names = set(_BUILDERS)
    if include:
        names = {n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns(include))}
    return sorted(n for n in names if not any(fnmatch.fnmatch(n, p) for p in patterns(exclude)))


def get_model_builder(name):
    """
    The builder function registered under ``name``.

    Examples
    --------
    >>> from astro_clusterclass.models import get_model_builder
    >>> build = get_model_builder('resnet18')
    >>> build.__name__, build(cutout_size=32).meta['architecture']
    ('resnet18', 'resnet18')
    """
    if not isinstance(name, str):
        msg = f'name must be a string, got {type(name).__name__}'
        raise TypeError(msg)
    try:
        return _BUILDERS[name.lower()]
    except KeyError:
        msg = f'unknown model {name!r}; registered models: {list_models()}'
        raise ValueError(msg) from None


def get_model(name, **config):
    """
    Build a registered model.

    Parameters
    ----------
    name : str
        A name of `list_models`.
    **config
        Builder keywords: ``weights`` (a member of the model's weights
        enum or its name, e.g. ``'DEFAULT'``; `None` for random weights),
        ``weights_backbone`` (``'IMAGENET1K_V1'`` for torchvision ImageNet
        weights with the stem adapted to five bands; ``weights='IMAGENET'``
        is accepted as shorthand), ``num_classes``, ``cutout_size``,
        ``normalization`` and ``progress``.

    Returns
    -------
    model : `torch.nn.Module`
        The network, in training mode, with ``model.meta``.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the registered ones) or
        the configuration conflicts with the weights.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.models import get_model
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = get_model('resnet18', cutout_size=32).eval()
    >>> model.meta['bands'], model.meta['categories'], model.meta['stem_layer']
    (['F275W', 'F336W', 'F438W', 'F555W', 'F814W'], [1, 2, 3, 4], 'conv1')
    >>> model(torch.zeros(2, 5, 32, 32)).shape
    torch.Size([2, 4])
    """
    return get_model_builder(name)(**config)


def get_model_weights(name):
    """
    The weights enum of a registered model (a builder or its name).

    Examples
    --------
    >>> from astro_clusterclass.models import get_model_weights
    >>> get_model_weights('resnet18').__name__
    'ResNet18_Weights'
    """
    if callable(name) and not isinstance(name, str):
        for key, fn in _BUILDERS.items():
            if fn is name:
                name = key
                break
        else:
            msg = f'{name!r} is not a registered model builder'
            raise ValueError(msg)
    get_model_builder(name)
    return _WEIGHT_ENUMS[name.lower()]


def _all_weights():
    return {enum.__name__: enum for enum in _WEIGHT_ENUMS.values() if enum is not None}


def get_weight(name):
    """
    A weights record by its full name, ``'<Enum>.<MEMBER>'``.

    Raises
    ------
    ValueError
        If no registered enum has that member; the message lists them.

    Examples
    --------
    >>> from astro_clusterclass.models import get_weight
    >>> get_weight('CompactNet_Weights.SIM_V1').meta['architecture']
    'compactnet'
    """
    enum_name, _, member = str(name).partition('.')
    enums = _all_weights()
    if enum_name not in enums or member not in enums[enum_name].__members__:
        known = [f'{e}.{m}' for e, enum in sorted(enums.items()) for m in enum.__members__]
        msg = f'unknown weights {name!r}; registered weights: {known or "none yet"}'
        raise ValueError(msg)
    return enums[enum_name].__members__[member]


def default_weights():
    """
    The weights `~astro_clusterclass.classify.classify_table` uses when ``models=None``.

    Returns
    -------
    weights : `WeightsEnum` member
        The ``DEFAULT`` member of the first architecture (in the order
        compactnet, resnet18, vgg19_bn) that has one.

    Raises
    ------
    ValueError
        If no default model is installed (no enum has a ``DEFAULT``).

    Examples
    --------
    >>> from astro_clusterclass.models import default_weights
    >>> default_weights()
    CompactNet_Weights.SIM_V1
    """
    for name in _DEFAULT_ARCHITECTURES + tuple(sorted(_BUILDERS)):
        enum = _WEIGHT_ENUMS.get(name)
        if enum is not None and 'DEFAULT' in enum.__members__:
            return enum.DEFAULT
    msg = ('models=None but no default model is installed (no weights enum has a '
           'DEFAULT member; the bundled CompactNet_Weights.SIM_V1 is missing from this '
           'installation). Pass models= a checkpoint file or URL, a registered weights '
           'name, or models built with astro_clusterclass.models.get_model()')
    raise ValueError(msg)


# ----------------------------------------------------------------------------
# Helpers shared by the builders
# ----------------------------------------------------------------------------

def split_weights(weights, weights_backbone, architecture):
    """
    Sort ``weights``/``weights_backbone`` into (record or None, ImageNet name or None).

    Names are looked up in the weights enum registered for ``architecture``;
    a member of any `WeightsEnum` is accepted when it was made for
    ``architecture``. ``weights='IMAGENET'`` (or ``'IMAGENET1K_V1'``) is
    shorthand for ``weights_backbone='IMAGENET1K_V1'``.
    """
    if isinstance(weights, str) and weights.upper() in ('IMAGENET', 'IMAGENET1K_V1'):
        if weights_backbone is not None:
            msg = 'give ImageNet weights either as weights= or as weights_backbone=, not both'
            raise ValueError(msg)
        weights, weights_backbone = None, 'IMAGENET1K_V1'
    if isinstance(weights, WeightsEnum):
        if weights.meta['architecture'] != architecture:
            msg = (f'weights={weights!r} are for {weights.meta["architecture"]!r}, '
                   f'not {architecture!r}')
            raise ValueError(msg)
    else:
        weights = _WEIGHT_ENUMS[architecture].verify(weights)
    if weights is not None and weights_backbone is not None:
        msg = ('weights and weights_backbone exclude each other: trained weights '
               'replace the whole network')
        raise ValueError(msg)
    return weights, weights_backbone


def settings_from(weights, *, num_classes, cutout_size, normalization):
    """Categories, cutout size and normalisation, from weights or arguments."""
    if weights is not None:
        meta = weights.meta
        categories = list(meta['categories'])
        if num_classes is not None and num_classes != len(categories):
            msg = (f'num_classes={num_classes} conflicts with the {len(categories)} '
                   f'categories of {weights!r}')
            raise ValueError(msg)
        if cutout_size is not None and cutout_size != meta['cutout_size']:
            msg = (f'cutout_size={cutout_size} conflicts with {weights!r}, trained on '
                   f'{meta["cutout_size"]} px stamps')
            raise ValueError(msg)
        if normalization is not None and \
                StampNormalization.from_dict(normalization).to_dict() != meta['normalization']:
            msg = f'normalization={normalization!r} conflicts with that of {weights!r}'
            raise ValueError(msg)
        return categories, meta['cutout_size'], dict(meta['normalization'])
    if num_classes is None:
        categories = list(CLASSES)
    elif num_classes == len(CLASSES):
        categories = list(CLASSES)
    elif isinstance(num_classes, int) and num_classes > 0:
        categories = list(range(num_classes))
    else:
        msg = f'num_classes must be a positive integer, got {num_classes!r}'
        raise ValueError(msg)
    if cutout_size is None:
        cutout_size = DEFAULT_CUTOUT_SIZE
    if isinstance(cutout_size, bool) or not isinstance(cutout_size, int) or cutout_size < 8:
        msg = f'cutout_size must be an integer of at least 8 pixels, got {cutout_size!r}'
        raise ValueError(msg)
    norm = StampNormalization.from_dict(normalization) if isinstance(normalization, dict) \
        else (normalization or StampNormalization())
    if not isinstance(norm, StampNormalization):
        msg = (f'normalization must be a StampNormalization or its dict, got '
               f'{type(normalization).__name__}')
        raise TypeError(msg)
    return categories, cutout_size, norm.to_dict()


def build_with_weights(build, weights, progress):
    """Build without random initialisation, then load ``weights`` strictly."""
    state_dict = weights.get_state_dict(progress=progress)
    with torch.device('meta'):
        model = build()
    load_state_dict_strict(model, state_dict, source=repr(weights))
    return model


def load_state_dict_strict(model, state_dict, *, source):
    """``load_state_dict(strict=True, assign=True)`` with a clear error."""
    try:
        model.load_state_dict(state_dict, strict=True, assign=True)
    except RuntimeError as exc:
        msg = f'{source}: tensors do not match the architecture: {exc}'
        raise ValueError(msg) from exc


def attach_meta(model, *, architecture, config, categories, cutout_size, normalization,
                stem_layer, init, stem_adaptation=None, weights=None):
    """Set ``model.meta`` (from ``weights`` when given) and return the model."""
    if weights is not None:
        meta = {**weights.meta, 'weights': f'{type(weights).__name__}.{weights.name}',
                'sha256': weights.sha256}
    else:
        meta = {'architecture': architecture, 'config': dict(config),
                'bands': list(BANDS), 'cutout_size': cutout_size,
                'normalization': dict(normalization), 'categories': list(categories),
                'stem_layer': stem_layer, 'stem_adaptation': stem_adaptation,
                'init': init, 'training': {}, 'metrics': {}, 'license': DEFAULT_LICENSE,
                'weights': None, 'sha256': None,
                'transform': StampTransform(cutout_size, normalization=normalization).to_dict()}
    meta['num_params'] = sum(p.numel() for p in model.parameters())
    model.meta = meta
    return model

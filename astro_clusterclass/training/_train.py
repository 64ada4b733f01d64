"""
Training classifiers from labelled candidates (Whitmore et al. 2021, Appendix 10.2).

`train_model` fine-tunes (or trains from scratch) one network of the model
registry; `train_ensemble` trains several with different seeds on one
split, as the PHANGS-HST ensemble of 10 ResNet18 + 10 VGG19-BN.

Reproducibility and resuming: the random numbers of batch ``b`` depend on
``(seed, b)`` only (`~astro_clusterclass.training._augment.batch_seed`),
the model's initial weights on ``seed``, and the training state (weights,
optimiser, learning-rate schedule, history) is written to a resume file
every ``checkpoint_every`` batches and when the run is interrupted. A
resumed run therefore draws the same batches as an uninterrupted one and
ends with the same weights.
"""

import datetime
import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torchvision
from astropy.table import QTable, Table
from torch import nn

from .._utils.errors import CheckpointError, DamagedFileWarning
from .._utils.files import check_output
from .._utils.validation import positive_int
from .. import __version__
from ..classes import CLASSES
from ..classify import Ensemble, consolidate, resolve_device
from ..models import (DEFAULT_CUTOUT_SIZE, FoldedVGG, fold_classifier, get_model,
                      load_checkpoint, load_model, save_checkpoint, unfold_classifier)
from ..preprocessing import StampNormalization, StampTransform
from ._augment import loss_weights, sampling_weights
from ._config import TrainingConfig
from ._data import TrainingSet, make_training_set, split_train_test
from ._evaluate import Evaluation, evaluate_classes
from ._loop import TrainingLoop

__all__ = ['TrainingResult', 'train_model', 'train_ensemble']


@dataclass
class TrainingResult:
    """
    What `train_model` returns.

    Attributes
    ----------
    model : `torch.nn.Module`
        The trained network (eval mode) with ``meta['training']`` and
        ``meta['metrics']`` filled in.
    evaluation : `~astro_clusterclass.training.Evaluation`
        Scores on the held-out test split.
    history : `~astropy.table.QTable`
        Per batch: ``batch``, ``loss``, ``accuracy`` (on the augmented
        training batch) and ``lr``.
    train_index, test_index : `~numpy.ndarray`
        Rows of the training set used to train and held out.
    path : str or None
        Checkpoint written (``output``), with its ``sha256``.
    sha256 : str or None

    Examples
    --------
    A very short run, to show what comes back (real training takes
    thousands of batches, see :doc:`/training`):

    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.training import train_model
    >>> field = make_cluster_field((300, 300), 30, seed=2)
    >>> result = train_model(field.labelled_candidates(), images=field.images, n_batches=3,
    ...                      batch_size=8, progress=False)
    >>> result.history.colnames, len(result.history)
    (['batch', 'loss', 'accuracy', 'lr'], 3)
    >>> len(result.train_index) + len(result.test_index), result.evaluation.n
    (29, 6)
    >>> result.model.meta['training']['n_batches']
    3
    """

    model: nn.Module
    evaluation: Evaluation
    history: QTable
    train_index: np.ndarray
    test_index: np.ndarray
    path: str = None
    sha256: str = None


def _as_training_set(data, labels, images, *, size, label_column, unknown_labels, group):
    """The `TrainingSet` meant by the ``data``/``labels``/``images`` arguments."""
    if isinstance(data, TrainingSet):
        if labels is not None or images is not None:
            msg = 'labels and images must be None when data is a TrainingSet'
            raise ValueError(msg)
        if data.size != size:
            msg = (f'the TrainingSet was made for {data.size} px inputs but the model '
                   f'takes {size} px (cutout_size); make the set with size={size}')
            raise ValueError(msg)
        return data
    if isinstance(data, Table):
        if images is None:
            msg = 'images is required when data is a table of candidates'
            raise ValueError(msg)
        if labels is not None:
            msg = 'labels must be None when data is a table: name the column with label_column'
            raise ValueError(msg)
        return make_training_set(data, images, size=size, label_column=label_column,
                                 unknown_labels=unknown_labels, group=group)
    if labels is None:
        msg = ('labels is required when data are stamps; give data as stamps + labels, a '
               'labelled table + images, or a TrainingSet')
        raise ValueError(msg)
    return TrainingSet.from_arrays(data, labels, size=size, unknown_labels=unknown_labels)


def _natural_size(data):
    """Input size implied by the data (a set's size, odd stamps' side), or None."""
    if isinstance(data, TrainingSet):
        return data.size
    if isinstance(data, Table):
        return None
    side = np.shape(getattr(data, 'data', data))[-1]
    return side if side % 2 else side - 1


def _build_model(architecture, init, *, cutout_size, normalization, model_config, seed,
                 progress):
    """A fresh model and its ``init`` description, seeded."""
    torch.manual_seed(seed)
    config = dict(model_config or {})
    if init in ('random', 'imagenet'):
        if init == 'imagenet':
            config['weights_backbone'] = 'IMAGENET1K_V1'
        model = get_model(architecture, cutout_size=cutout_size or DEFAULT_CUTOUT_SIZE,
                          normalization=normalization, progress=progress, **config)
        return model.train()
    if model_config:
        msg = 'model_config applies to new models only, not when init is a checkpoint'
        raise ValueError(msg)
    model = load_model(init, progress=progress, categories=CLASSES)
    if architecture is not None and model.meta['architecture'] != architecture:
        msg = (f'init={init!r} is a {model.meta["architecture"]!r} model but '
               f'architecture={architecture!r}')
        raise ValueError(msg)
    if cutout_size is not None and cutout_size != model.meta['cutout_size']:
        msg = (f'cutout_size={cutout_size} conflicts with init={init!r}, made for '
               f'{model.meta["cutout_size"]} px stamps')
        raise ValueError(msg)
    if normalization is not None and \
            StampNormalization.from_dict(normalization).to_dict() != \
            model.meta['normalization']:
        msg = f'normalization conflicts with that of init={init!r}'
        raise ValueError(msg)
    model.meta['init'] = f'checkpoint:{model.meta.get("sha256")}'
    for key in ('sha256', 'source', 'weights'):
        model.meta.pop(key, None)
    return model.train()


def train_model(data, labels=None, *, images=None, architecture='compactnet', init='random',
                cutout_size=None, normalization=None, model_config=None, n_batches=2000,
                batch_size=32, lr=1e-3, optimizer='adamw', weight_decay=1e-4,
                schedule='cosine', balance='sampling', test_fraction=0.2, split='object',
                test_groups=None, seed=0, split_seed=None, label_column='class',
                unknown_labels='error', group=None, output=None, overwrite=False,
                checkpoint=None, checkpoint_every=500, resume=True, device='auto',
                precision='fp32', progress=True, callback=None):
    """
    Train one classifier on labelled candidates.

    Follows Whitmore et al. (2021, Appendix 10.2): each batch draws random
    objects of the training split, rotates each by a random multiple of 90
    degrees and flips it with probability 0.5; a held-out test split
    measures the accuracy.

    Parameters
    ----------
    data : `~astro_clusterclass.training.TrainingSet`, `~astropy.table.Table` or array
        Labelled stamps (a `~astro_clusterclass.training.TrainingSet`), a
        labelled candidate table (with ``images``), or ``(N, 5, S, S)``
        stamps / `~astro_clusterclass.cutouts.Cutouts` (with ``labels``).
    labels : array-like, optional
        Classes 1-4 of the stamps.
    images : any input of `~astro_clusterclass.load_images`, optional
        The five bands, when ``data`` is a table.
    architecture : str, optional
        A registered model (`~astro_clusterclass.models.list_models`).
    init : str, optional
        ``'random'`` (from scratch), ``'imagenet'`` (torchvision ImageNet
        weights, stem adapted to five bands; needs the network or the file
        in the torch cache) or a checkpoint (file, URL, registry name) to
        fine-tune.
    cutout_size : int, optional
        Network input side (default: the checkpoint's, else
        :data:`~astro_clusterclass.models.DEFAULT_CUTOUT_SIZE`).
    normalization : `~astro_clusterclass.preprocessing.StampNormalization` or dict, optional
        Input normalisation of a new model (default asinh).
    model_config : dict, optional
        Further builder keywords of a new model (e.g. ``{'widths': [16, 32]}``).
    n_batches : int, optional
        Number of batches (10 000 in the paper).
    batch_size : int, optional
        Objects per batch (32 in the paper).
    lr : float, optional
        (Peak) learning rate.
    optimizer : {'adamw', 'adam', 'sgd'}, optional
    weight_decay : float, optional
    schedule : {'cosine', 'constant'}, optional
        Learning-rate schedule over ``n_batches``.
    balance : {'sampling', 'weights', None}, optional
        Class imbalance: draw every class equally often, weight the loss
        by inverse class frequency, or neither.
    test_fraction : float, optional
        Held-out fraction (see `~astro_clusterclass.training.split_train_test`).
    split : {'object', 'group'}, optional
        Hold out objects class by class, or whole groups (galaxies).
    test_groups : sequence of str, optional
        Groups to hold out with ``split='group'``.
    seed : int, optional
        Seed of the initial weights and of every batch.
    split_seed : int, optional
        Seed of the split (default ``seed``); ensembles share one.
    label_column, unknown_labels, group : optional
        How to read a table (see `~astro_clusterclass.training.make_training_set`).
    output : str or path-like, optional
        Write the trained model here (safetensors, `~astro_clusterclass.models.save_checkpoint`).
    overwrite : bool, optional
        Replace an existing ``output``.
    checkpoint : str or path-like, optional
        Resume file, written (atomically) every ``checkpoint_every`` batches
        and when the run is interrupted (read with
        ``torch.load(weights_only=True)`` after its zip CRCs are checked).
    checkpoint_every : int, optional
    resume : bool, optional
        Continue from ``checkpoint`` if it exists (its settings and data
        must match, else a `ValueError` says what differs).
    device : str, optional
        ``'auto'`` (a CUDA GPU when present), ``'cpu'``, ``'cuda'``.
    precision : {'fp32', 'bf16'}, optional
        ``'bf16'`` runs forward and backward passes under bf16 autocast
        (weights and optimiser stay fp32).
    progress : bool, optional
        Progress bar with the running loss and accuracy.
    callback : callable, optional
        Called as ``callback(batch, loss, accuracy)`` after every batch.

    Returns
    -------
    result : `~astro_clusterclass.training.TrainingResult`

    Raises
    ------
    ValueError
        For labels outside 1-4 (unless ``unknown_labels='drop'``), classes
        too small for the split, mismatched lengths, unknown options; the
        message names the parameter.
    CheckpointError
        A `ValueError`: if the resume file ``checkpoint`` is damaged,
        truncated or from a run with other settings, or ``init`` is a
        checkpoint that cannot be read (one line naming the file).
    ConnectionError
        If ``init='imagenet'`` and the weights can be neither found in the
        torch cache nor downloaded.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.training import train_model
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([1, 2, 3, 4], 10)
    >>> stamps = rng.normal(size=(40, 5, 17, 17)).astype('f4')
    >>> stamps[:, :, 8, 8] += labels[:, None] * 20   # a learnable signal
    >>> result = train_model(stamps, labels, architecture='compactnet',
    ...                      model_config={'widths': [8, 16]}, n_batches=30,
    ...                      progress=False, seed=1)
    >>> result.model.meta['cutout_size'], len(result.history)
    (17, 30)
    >>> result.evaluation.n, result.model.meta['training']['class_counts_test']
    (8, {'1': 2, '2': 2, '3': 2, '4': 2})
    """
    config = TrainingConfig(
        n_batches=n_batches, batch_size=batch_size, lr=lr, optimizer=optimizer,
        weight_decay=weight_decay, schedule=schedule, balance=balance,
        test_fraction=test_fraction, split=split, test_groups=test_groups, seed=seed,
        split_seed=split_seed, precision=precision, checkpoint_every=checkpoint_every)
    if output is not None:
        check_output(output, overwrite=overwrite, parameter='output')
    dev = resolve_device(device)

    if cutout_size is None and init in ('random', 'imagenet'):
        cutout_size = _natural_size(data)
    model = _build_model(architecture, init, cutout_size=cutout_size,
                         normalization=normalization, model_config=model_config, seed=seed,
                         progress=progress)
    transform = StampTransform.from_meta(model.meta)
    tset = _as_training_set(data, labels, images, size=transform.size,
                            label_column=label_column, unknown_labels=unknown_labels,
                            group=group)
    train_index, test_index = split_train_test(tset, test_fraction=config.test_fraction,
                                               by=config.split, test_groups=test_groups,
                                               seed=config.split_seed)
    categories = [int(k) for k in model.meta['categories']]
    target_of = {k: i for i, k in enumerate(categories)}
    targets = torch.tensor([target_of[int(k)] for k in tset.labels], dtype=torch.long)
    train_labels = tset.labels[train_index]
    resume_key = _resume_key(model.meta, transform, config, tset)

    model = model.to(dev)
    net = _trainable(model, transform.size)
    loop = TrainingLoop(net, config, resume_key=resume_key,
                        class_weights=loss_weights(train_labels, config.balance, categories))
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        loop.resume(checkpoint)
    elapsed = loop.run(tset.stamps, targets, train_index, transform,
                       weights=sampling_weights(train_labels, config.balance),
                       checkpoint=checkpoint, progress=progress, callback=callback)
    if net is not model:
        unfold_classifier(net, model)
    model.eval()
    evaluation = _evaluate_split(model, tset, test_index, device=dev)
    model.meta['training'] = _training_meta(tset, train_index, test_index, config, loop,
                                            elapsed, dev, folded=net is not model)
    model.meta['metrics'] = {'test': evaluation.to_dict()}
    model = model.cpu()
    path = sha = None
    if output is not None:
        sha = save_checkpoint(model, output, overwrite=overwrite)
        path = os.fspath(output)
        model.meta['sha256'] = sha
    if checkpoint is not None and os.path.exists(checkpoint):
        os.remove(checkpoint)  # finished: the resume file is no longer needed
    hist = QTable({k: np.asarray(v) for k, v in loop.history.items()})
    hist['batch'] = hist['batch'].astype(np.int64)
    return TrainingResult(model=model, evaluation=evaluation, history=hist,
                          train_index=train_index, test_index=test_index, path=path,
                          sha256=sha)


def _resume_key(meta, transform, config, tset):
    """What a resume file must match: the model, its input, the settings and the data."""
    key = {'architecture': meta['architecture'], 'config': meta['config'],
           'init': meta.get('init'), 'cutout_size': transform.size,
           'normalization': meta['normalization'], 'data_sha256': tset.fingerprint()}
    key.update({k: v for k, v in config.to_dict().items() if k != 'checkpoint_every'})
    return key


def _trainable(model, size):
    """
    The module the optimiser updates.

    VGG below 224 px trains in folded form (adaptive pool and first linear
    layer as one small layer, the same function): far fewer weights to
    update per step. It is unfolded into torchvision's layout at the end, so
    the checkpoint has the standard architecture.
    """
    if isinstance(model, torchvision.models.VGG):
        folded = fold_classifier(model, size)
        if isinstance(folded, FoldedVGG):
            return folded
    return model


def _evaluate_split(model, tset, test_index, *, device):
    """Scores on the held-out split, through the engine (fp32)."""
    ensemble = Ensemble(model, device=device, precision='fp32')
    probs = ensemble.predict(tset.stamps[test_index])[:, 0]
    categories = np.asarray(model.meta['categories'])
    predicted = categories[np.argmax(probs, axis=1)] if len(probs) else categories[:0]
    return evaluate_classes(tset.labels[test_index], predicted)


def _training_meta(tset, train_index, test_index, config, loop, elapsed, device, *, folded):
    """``meta['training']`` of a trained model."""
    trained = config.n_batches - loop.start
    history = loop.history
    settings = config.to_dict()
    return {
        'data': tset.describe(),
        'class_counts_train': {str(k): v for k, v in tset.class_counts(train_index).items()},
        'class_counts_test': {str(k): v for k, v in tset.class_counts(test_index).items()},
        **{k: settings[k] for k in ('n_batches', 'batch_size', 'lr', 'optimizer',
                                    'weight_decay', 'schedule', 'balance', 'test_fraction',
                                    'split', 'test_groups', 'seed', 'split_seed',
                                    'precision')},
        'augmentation': 'random 90-degree rotations, left-right flip with p=0.5',
        'trained_as': ('VGG with its classifier folded for this input size, unfolded '
                       'exactly afterwards' if folded else 'as built'),
        'resumed_at_batch': loop.start or None,
        'final_loss': float(np.mean(history['loss'][-50:])) if history['loss'] else None,
        'seconds': round(elapsed, 1),
        'images_per_second': (round(trained * config.batch_size / elapsed, 1) if elapsed
                              else None),
        'device': str(device), 'torch_threads': torch.get_num_threads(),
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'astro_clusterclass': __version__, 'torch': str(torch.__version__),
    }


def _members(architectures):
    if isinstance(architectures, dict):
        architectures = list(architectures.items())
    members = []
    for item in architectures:
        name, count = (item, 1) if isinstance(item, str) else item
        members += [name] * positive_int(count, f'architectures[{name!r}]')
    if not members:
        msg = 'architectures is empty'
        raise ValueError(msg)
    return members


def train_ensemble(data, labels=None, *, output_dir, images=None,
                   architectures=(('resnet18', 10), ('vgg19_bn', 10)), seed=0,
                   cutout_size=None, label_column='class', unknown_labels='error',
                   progress=True, **kwargs):
    """
    Train an ensemble: several networks with different seeds on one split.

    Member ``i`` (counting from 0) is trained with ``seed + i``; all share
    the test split drawn with ``seed``, so the ensemble is scored on
    objects none of its members saw. Members whose checkpoint exists in
    ``output_dir`` are loaded instead of trained again (one found damaged,
    truncated or failing its digest, is trained again, with a `UserWarning`
    naming it); a member that was interrupted resumes from its resume file.

    Parameters
    ----------
    data, labels, images : optional
        As in `train_model`; a table is cut into stamps once for all members.
    output_dir : str or path-like
        Folder of the checkpoints ``<architecture>_<NN>.safetensors``.
    architectures : dict or sequence, optional
        ``{'resnet18': 10, 'vgg19_bn': 10}`` (the paper's ensemble), or a
        sequence of names or ``(name, count)`` pairs.
    seed : int, optional
        Seed of the first member and of the split.
    cutout_size : int, optional
        One input size for every member (default
        :data:`~astro_clusterclass.models.DEFAULT_CUTOUT_SIZE`).
    **kwargs
        Other options of `train_model` (``n_batches``, ``lr``, ``init``...).

    Returns
    -------
    paths : list of str
        The members' checkpoints, in order (pass them to
        `~astro_clusterclass.classify_table` as ``models``).
    evaluation : `~astro_clusterclass.training.Evaluation`
        The ensemble's mode (consolidated as
        `~astro_clusterclass.classify.consolidate`) on the shared test split.

    Examples
    --------
    Two compact networks, a few batches each (the paper's ensemble is
    ``{'resnet18': 10, 'vgg19_bn': 10}`` with 10 000 batches):

    >>> import os, tempfile
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.training import train_ensemble
    >>> field = make_cluster_field((300, 300), 30, seed=2)
    >>> paths, evaluation = train_ensemble(field.labelled_candidates(), images=field.images,
    ...                                    output_dir=tempfile.mkdtemp(),
    ...                                    architectures={'compactnet': 2}, n_batches=2,
    ...                                    batch_size=8, progress=False)
    >>> [os.path.basename(path) for path in paths]
    ['compactnet_01.safetensors', 'compactnet_02.safetensors']
    >>> evaluation.n
    6
    """
    for key in ('output', 'checkpoint', 'split_seed', 'architecture'):
        if key in kwargs:
            msg = f'{key} is set per member by train_ensemble; do not pass it'
            raise ValueError(msg)
    members = _members(architectures)
    size = _natural_size(data) if cutout_size is None else cutout_size
    size = int(size or DEFAULT_CUTOUT_SIZE)
    # Stamps are cut once for all members.
    tset = _as_training_set(data, labels, images, size=size, label_column=label_column,
                            unknown_labels=unknown_labels, group=kwargs.pop('group', None))
    os.makedirs(output_dir, exist_ok=True)
    paths, count = [], {}
    for i, name in enumerate(members):
        count[name] = count.get(name, 0) + 1
        path = os.path.join(os.fspath(output_dir), f'{name}_{count[name]:02d}.safetensors')
        paths.append(path)
        options = dict(kwargs)
        if os.path.exists(path):
            try:
                load_checkpoint(path)
                continue
            except CheckpointError as exc:
                # Training is deterministic: training the member again gives the
                # checkpoint it should have been.
                warnings.warn(f'{exc}; training member {i + 1} ({name}, seed {seed + i}) '
                              f'again', DamagedFileWarning, stacklevel=2)
                options['overwrite'] = True
        train_model(tset, architecture=name, cutout_size=size, seed=seed + i, split_seed=seed,
                    output=path, checkpoint=path.replace('.safetensors', '.resume.pt'),
                    progress=progress, **options)
    _, test_index = split_train_test(tset, test_fraction=kwargs.get('test_fraction', 0.2),
                                     by=kwargs.get('split', 'object'),
                                     test_groups=kwargs.get('test_groups'), seed=seed)
    # The members are scored together, through the engine (fp32), as one ensemble.
    ensemble = Ensemble(paths, device=kwargs.get('device', 'auto'), precision='fp32')
    probs = ensemble.predict(tset.stamps[test_index])
    classes = np.asarray(ensemble.categories)[np.argmax(probs, axis=2)]
    consolidated = consolidate(classes, probs)
    return paths, evaluate_classes(tset.labels[test_index], consolidated['class_mode'])

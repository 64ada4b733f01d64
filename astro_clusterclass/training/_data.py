"""
Labelled stamps for training (`~astro_clusterclass.training.TrainingSet`), from tables or arrays.

Stamps are cut one pixel larger than the network's input when its size is
even (``size | 1``), so that every rotation by a multiple of 90 degrees
keeps the candidate's pixel at the centre: the odd stamp is rotated, then
its first ``size`` rows and columns are the network input, centred at
index ``size // 2`` exactly as `~astro_clusterclass.classify_table` cuts
stamps (see `~astro_clusterclass.cutouts`).
"""

import hashlib
from dataclasses import dataclass, field

import numpy as np
from astropy.table import QTable, Table

from .._utils.columns import require_columns
from .._utils.log import get_logger
from .._utils.validation import check_choice, check_int
from ..bands import BANDS
from ..classes import CLASSES, NOT_INSPECTED
from ..classify import DEFAULT_SKIP_FLAGS
from ..cutouts import CutoutFlag, Cutouts, make_cutouts
from ..images import load_images
from ..tables import check_table

__all__ = ['TrainingSet', 'make_training_set', 'split_train_test', 'stored_size',
           'simulated_training_set']

#: Accepted values of ``unknown_labels``.
UNKNOWN_LABELS = ('error', 'drop')


def stored_size(size):
    """Side of the stored stamps for a network input of ``size`` px (odd: ``size | 1``)."""
    return int(size) | 1


def _check_labels(labels, unknown_labels, parameter):
    """
    Labels as int64 and a mask of the usable ones (classes 1-4).

    Masked, non-finite, LEGUS 0 ("not inspected") and out-of-scheme values
    raise unless ``unknown_labels='drop'``.
    """
    check_choice(unknown_labels, UNKNOWN_LABELS, 'unknown_labels')
    values = np.ma.masked_invalid(np.ma.asarray(labels, dtype=float))
    if values.ndim != 1:
        msg = f'{parameter} must be one label per object (1-D), got shape {values.shape}'
        raise ValueError(msg)
    data = values.filled(np.nan)
    whole = np.isfinite(data) & (data == np.round(data))
    usable = whole & np.isin(np.where(whole, data, -1), CLASSES)
    if not usable.all() and unknown_labels == 'error':
        bad = data[~usable]
        finite = bad[np.isfinite(bad)]
        counts = {(int(v) if float(v).is_integer() else float(v)): int(n)
                  for v, n in zip(*np.unique(finite, return_counts=True))}
        n_missing = int((~np.isfinite(bad)).sum())
        parts = [f'{counts}' if counts else '',
                 f'{n_missing} masked/NaN' if n_missing else '']
        what = ' and '.join(p for p in parts if p)
        hint = (f' (LEGUS {NOT_INSPECTED} means "not inspected")'
                if NOT_INSPECTED in counts else '')
        msg = (f'{parameter} has labels outside classes {list(CLASSES)}: {what}{hint}; pass '
               f"unknown_labels='drop' to leave those objects out of training")
        raise ValueError(msg)
    return np.where(usable, data, 0).astype(np.int64), usable


@dataclass
class TrainingSet:
    """
    Labelled five-band stamps to train and test a classifier on.

    Made by `~astro_clusterclass.training.make_training_set` (a labelled table and its images) or
    `TrainingSet.from_arrays`; several sets (fields, galaxies) join with
    `TrainingSet.concatenate`.

    Attributes
    ----------
    stamps : `~numpy.ndarray`
        ``(N, 5, S', S')`` float32 raw (unnormalised) stamps, bands in
        :data:`~astro_clusterclass.bands.BANDS` order; ``S' = size | 1``
        (see the module docstring).
    labels : `~numpy.ndarray`
        ``(N,)`` int64 classes 1-4.
    size : int
        Network input side the stamps are meant for (``S' = size | 1``).
    ids : `~numpy.ndarray`
        Identifiers of the objects (the ``id`` column or row indices).
    groups : `~numpy.ndarray`
        ``(N,)`` str group of every object (field or galaxy name), used by
        `~astro_clusterclass.training.split_train_test` with ``by='group'``.
    excluded : dict
        How many input rows were left out and why (``'unlabelled'``, the
        `~astro_clusterclass.cutouts.CutoutFlag` names).
    description : str
        Where the data come from (stored in the checkpoint metadata).

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.training import TrainingSet
    >>> rng = np.random.default_rng(0)
    >>> stamps = rng.normal(size=(8, 5, 17, 17)).astype(np.float32)
    >>> tset = TrainingSet.from_arrays(stamps, [1, 2, 3, 4] * 2, size=16)
    >>> tset
    <TrainingSet 8 stamps of 16 px, classes {1: 2, 2: 2, 3: 2, 4: 2}, 1 group(s)>
    >>> len(tset), tset.stamps.shape
    (8, (8, 5, 17, 17))
    """

    stamps: np.ndarray
    labels: np.ndarray
    size: int
    ids: np.ndarray = None
    groups: np.ndarray = None
    excluded: dict = field(default_factory=dict)
    description: str = ''

    def __post_init__(self):
        n = len(self.labels)
        stamps = np.asarray(self.stamps)
        side = stored_size(self.size)
        if stamps.ndim != 4 or stamps.shape[1] != len(BANDS) or stamps.shape[2:] != (side,) * 2:
            msg = (f'stamps must have shape (N, {len(BANDS)}, {side}, {side}) for size='
                   f'{self.size} (odd side size | 1), got {stamps.shape}')
            raise ValueError(msg)
        if stamps.shape[0] != n:
            msg = f'stamps hold {stamps.shape[0]} objects but labels {n}: lengths must match'
            raise ValueError(msg)
        self.stamps = np.ascontiguousarray(stamps, dtype=np.float32)
        self.labels, usable = _check_labels(self.labels, 'error', 'labels')
        self.ids = np.arange(n) if self.ids is None else np.asarray(self.ids)
        self.groups = (np.full(n, '', dtype='U1') if self.groups is None
                       else np.asarray(self.groups).astype(str))
        if len(self.ids) != n or len(self.groups) != n:
            msg = f'ids and groups must have one entry per object ({n})'
            raise ValueError(msg)

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        counts = ', '.join(f'{k}: {v}' for k, v in self.class_counts().items())
        return (f'<TrainingSet {len(self)} stamps of {self.size} px, classes {{{counts}}}, '
                f'{len(set(self.groups.tolist()))} group(s)>')

    def class_counts(self, index=None):
        """Objects per class 1-4 (of the rows ``index``, default all)."""
        labels = self.labels if index is None else self.labels[index]
        return {k: int(np.sum(labels == k)) for k in CLASSES}

    def fingerprint(self):
        """SHA-256 of stamps, labels and size: identifies the data a checkpoint was trained on."""
        digest = hashlib.sha256()
        digest.update(np.int64(self.size).tobytes())
        digest.update(self.labels.astype(np.int64).tobytes())
        digest.update(memoryview(self.stamps).cast('B'))
        return digest.hexdigest()

    def describe(self):
        """JSON-serialisable summary for checkpoint metadata."""
        return {'description': self.description, 'n_objects': len(self),
                'class_counts': {str(k): v for k, v in self.class_counts().items()},
                'groups': sorted(set(self.groups.tolist())), 'stamp_size': self.size,
                'excluded': dict(self.excluded), 'sha256': self.fingerprint()}

    @classmethod
    def from_arrays(cls, stamps, labels, *, size=None, ids=None, groups=None,
                    unknown_labels='error', description='arrays'):
        """
        A training set from stamps and labels.

        Parameters
        ----------
        stamps : `~numpy.ndarray` or `~astro_clusterclass.cutouts.Cutouts`
            ``(N, 5, S, S)`` stamps centred on the objects at index ``S // 2``.
        labels : array-like
            ``(N,)`` classes 1-4.
        size : int, optional
            Network input side (default: ``S`` if odd, ``S - 1`` if even,
            so that every 90-degree rotation keeps the centre).
        ids, groups : array-like, optional
            Object identifiers and groups (see `~astro_clusterclass.training.TrainingSet`).
        unknown_labels : {'error', 'drop'}, optional
            What to do with labels outside 1-4 (LEGUS 0, masked, NaN).
        description : str, optional
            Recorded in checkpoint metadata.

        Examples
        --------
        >>> import numpy as np
        >>> from astro_clusterclass.training import TrainingSet
        >>> stamps = np.zeros((4, 5, 33, 33), dtype='f4')
        >>> TrainingSet.from_arrays(stamps, [1, 2, 0, 4], unknown_labels='drop')
        <TrainingSet 3 stamps of 33 px, classes {1: 1, 2: 1, 3: 0, 4: 1}, 1 group(s)>
        """
        if isinstance(stamps, Cutouts):
            ids = stamps.ids if ids is None else ids
            stamps = stamps.data
        stamps = np.asarray(stamps)
        if stamps.ndim != 4 or stamps.shape[1] != len(BANDS) or stamps.shape[2] != stamps.shape[3]:
            msg = f'stamps must have shape (N, {len(BANDS)}, S, S), got {stamps.shape}'
            raise ValueError(msg)
        side = stamps.shape[-1]
        if size is None:
            size = side if side % 2 else side - 1
        size = check_int(size, 'size', minimum=8)
        if side < stored_size(size):
            msg = (f'stamps of {side} px are too small for size={size}: need '
                   f'{stored_size(size)} px (size | 1)')
            raise ValueError(msg)
        lo = side // 2 - stored_size(size) // 2
        stamps = stamps[:, :, lo:lo + stored_size(size), lo:lo + stored_size(size)]
        labels_arr = np.ma.asarray(labels)
        if len(labels_arr) != len(stamps):
            msg = (f'stamps hold {len(stamps)} objects but labels has {len(labels_arr)}: '
                   f'lengths must match')
            raise ValueError(msg)
        labels, usable = _check_labels(labels_arr, unknown_labels, 'labels')
        excluded = {'unlabelled': int((~usable).sum())} if not usable.all() else {}
        pick = np.flatnonzero(usable)
        return cls(stamps[pick], labels[pick], size,
                   ids=None if ids is None else np.asarray(ids)[pick],
                   groups=None if groups is None else np.asarray(groups)[pick],
                   excluded=excluded, description=description)

    @classmethod
    def concatenate(cls, sets, *, description=None):
        """
        Join training sets (e.g. one per field or galaxy) made for the same size.

        Examples
        --------
        >>> import numpy as np
        >>> from astro_clusterclass.training import TrainingSet
        >>> a = TrainingSet.from_arrays(np.zeros((2, 5, 17, 17), 'f4'), [1, 3], groups=['a'] * 2)
        >>> b = TrainingSet.from_arrays(np.zeros((3, 5, 17, 17), 'f4'), [2, 4, 4], groups=['b'] * 3)
        >>> TrainingSet.concatenate([a, b])
        <TrainingSet 5 stamps of 17 px, classes {1: 1, 2: 1, 3: 1, 4: 2}, 2 group(s)>
        """
        sets = list(sets)
        if not sets or not all(isinstance(s, TrainingSet) for s in sets):
            msg = 'sets must be a non-empty sequence of TrainingSet'
            raise ValueError(msg)
        sizes = {s.size for s in sets}
        if len(sizes) > 1:
            msg = f'sets were made for different sizes {sorted(sizes)}; use one size'
            raise ValueError(msg)
        excluded = {}
        for s in sets:
            for key, value in s.excluded.items():
                excluded[key] = excluded.get(key, 0) + value
        return cls(np.concatenate([s.stamps for s in sets]),
                   np.concatenate([s.labels for s in sets]), sets[0].size,
                   ids=np.concatenate([s.ids for s in sets]),
                   groups=np.concatenate([s.groups for s in sets]), excluded=excluded,
                   description=description or '; '.join(s.description for s in sets))


def make_training_set(tbl, images, *, size, label_column='class', group=None,
                      group_column=None, unknown_labels='error',
                      skip_flags=DEFAULT_SKIP_FLAGS, columns=None, description=None):
    """
    Cut labelled training stamps from a candidate table and its images.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Candidates with positions (as for
        `~astro_clusterclass.classify_table`) and a class column, e.g. the
        human classes of a LEGUS catalogue or the truth of a simulated field.
    images : any input of `~astro_clusterclass.load_images`
        The five bands.
    size : int
        Network input side in pixels (stamps are cut ``size | 1`` wide).
    label_column : str, optional
        Column holding classes 1-4.
    group : str, optional
        Group name of all rows (e.g. the galaxy); see
        `~astro_clusterclass.training.split_train_test`.
    group_column : str, optional
        Column giving each row's group instead.
    unknown_labels : {'error', 'drop'}, optional
        Labels outside 1-4 (LEGUS 0 "not inspected", masked) raise an error
        naming them, or are left out with ``'drop'``.
    skip_flags : `~astro_clusterclass.cutouts.CutoutFlag`, optional
        Stamps with these flags are left out, as
        `~astro_clusterclass.classify.classify_table` leaves them
        unclassified (default: edge, off-image, non-finite, missing band).
    columns : tuple of str, optional
        Position columns.
    description : str, optional
        What the data are (default: from the table's ``meta``).

    Returns
    -------
    training_set : `~astro_clusterclass.training.TrainingSet`
        ``excluded`` counts the rows left out and why.

    Raises
    ------
    ValueError
        If ``label_column`` is missing, labels are outside 1-4 and
        ``unknown_labels='error'``, or no row is left.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.training import make_training_set
    >>> field = make_cluster_field((256, 256), 40, seed=2)
    >>> ts = make_training_set(field.truth, field.images, size=32, group='seed2')
    >>> ts.stamps.shape[1:], len(ts) + sum(ts.excluded.values()) == len(field.truth)
    ((5, 33, 33), True)
    """
    check_table(tbl)
    size = check_int(size, 'size', minimum=8)
    require_columns(tbl, [label_column], parameter='label_column')
    if group_column is not None:
        require_columns(tbl, [group_column], parameter='group_column')
    labels, usable = _check_labels(tbl[label_column], unknown_labels,
                                   f'label column {label_column!r}')
    images = load_images(images)
    cut = make_cutouts(images, tbl, size=stored_size(size), columns=columns)
    skip = np.uint8(int(skip_flags))
    flagged = (cut.flags & skip) != 0
    keep = usable & ~flagged
    excluded = {}
    if (~usable).any():
        excluded['unlabelled'] = int((~usable).sum())
    for flag in CutoutFlag:
        n = int(np.sum(usable & ((cut.flags & np.uint8(flag.value & int(skip))) != 0)))
        if flag.value and n:
            excluded[flag.name] = n
    if not keep.any():
        msg = (f'no usable row: {len(tbl)} rows, left out {excluded}; check label_column '
               f'and positions')
        raise ValueError(msg)
    if group_column is not None:
        groups = np.asarray(tbl[group_column]).astype(str)
    else:
        groups = np.full(len(tbl), '' if group is None else str(group))
    ids = np.asarray(tbl['id']) if 'id' in tbl.colnames else np.arange(len(tbl))
    if description is None:
        origin = tbl.meta.get('file') or tbl.meta.get('function') or type(tbl).__name__
        description = f'{len(tbl)} rows of {origin}' + (f' ({group})' if group else '')
    pick = np.flatnonzero(keep)
    return TrainingSet(cut.data[pick], labels[pick], size, ids=ids[pick], groups=groups[pick],
                       excluded=excluded, description=description)


def simulated_training_set(fields, *, size, shape=(4000, 4000), progress=True, **field_kwargs):
    """
    A training set from simulated fields with their true classes.

    Each field is made by `~astro_clusterclass.datasets.make_cluster_field`
    and its candidates (detected positions, with centroid errors) are
    labelled with their true class; the field is the group of its objects.

    Parameters
    ----------
    fields : sequence of (int, `~astropy.units.Quantity` or float)
        ``(seed, distance)`` of each field; a plain distance is in Mpc.
    size : int
        Network input side in pixels.
    shape : tuple of int, optional
        Image shape of every field.
    progress : bool, optional
        Log one line per field (INFO, on the ``astro_clusterclass`` logger).
    **field_kwargs
        Other options of `~astro_clusterclass.datasets.make_cluster_field`.

    Returns
    -------
    training_set : `~astro_clusterclass.training.TrainingSet`
        Groups are ``'seed<seed>'``.

    Examples
    --------
    >>> from astro_clusterclass.training import simulated_training_set
    >>> ts = simulated_training_set([(1, 8), (2, 12)], size=16, shape=(300, 300),
    ...                             n_candidates=30, progress=False)
    >>> sorted(set(ts.groups.tolist())), len(ts) + sum(ts.excluded.values())
    (['seed1', 'seed2'], 60)
    """
    import astropy.units as u

    from ..datasets import make_cluster_field
    sets = []
    for seed, distance in fields:
        distance = distance if isinstance(distance, u.Quantity) else float(distance) * u.Mpc
        field = make_cluster_field(shape, seed=seed, distance=distance, **field_kwargs)
        ts = make_training_set(field.labelled_candidates(), field.images, size=size,
                               group=f'seed{seed}',
                               description=f'simulated field seed={seed} {distance:g} '
                                           f'{shape[1]}x{shape[0]} px')
        if progress:
            get_logger(__name__).info('  field seed %s at %s: %s, left out %s', seed,
                                      f'{distance:g}', ts, ts.excluded)
        sets.append(ts)
    seeds = [seed for seed, _ in fields]
    return TrainingSet.concatenate(sets, description=(
        f'{len(sets)} simulated fields of astro_clusterclass.datasets.make_cluster_field '
        f'(seeds {seeds}, distances {[str(d) for _, d in fields]} (Mpc), '
        f'{shape[1]}x{shape[0]} px, options {field_kwargs or "default"}), candidates at '
        f'their detected positions labelled with their true class. Simulations only: no '
        f'real HST image was used.'))


def split_train_test(training_set, *, test_fraction=0.2, by='object', test_groups=None,
                     seed=0, min_train=1):
    """
    Hold out a test split, stratified by class (or by group).

    Parameters
    ----------
    training_set : `~astro_clusterclass.training.TrainingSet`
    test_fraction : float, optional
        Fraction of every class held out (``by='object'``; at least one
        object per class), or the fraction of objects in the held-out
        groups (``by='group'``).
    by : {'object', 'group'}, optional
        Split objects class by class, or hold out whole groups (e.g.
        galaxies), so that the test measures generalisation to new fields.
    test_groups : sequence of str, optional
        ``by='group'``: the groups to hold out (default: drawn at random
        until ``test_fraction`` of the objects is held out).
    seed : int, optional
        Seed of the draw.
    min_train : int, optional
        Smallest number of training objects per class.

    Returns
    -------
    train, test : `~numpy.ndarray`
        Sorted row indices into the training set.

    Raises
    ------
    ValueError
        If a class has too few objects for the split; the message gives
        the counts.

    Examples
    --------
    >>> import numpy as np
    >>> from astro_clusterclass.training import TrainingSet, split_train_test
    >>> ts = TrainingSet.from_arrays(np.zeros((20, 5, 9, 9), 'f4'), [1, 2, 3, 4] * 5)
    >>> train, test = split_train_test(ts, test_fraction=0.2, seed=0)
    >>> len(train), len(test), ts.class_counts(test)
    (16, 4, {1: 1, 2: 1, 3: 1, 4: 1})
    """
    if not isinstance(training_set, TrainingSet):
        msg = f'training_set must be a TrainingSet, got {type(training_set).__name__}'
        raise TypeError(msg)
    if not (isinstance(test_fraction, (float, int)) and 0 < test_fraction < 1):
        msg = f'test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}'
        raise ValueError(msg)
    labels = training_set.labels
    rng = np.random.default_rng(seed)
    if by == 'object':
        test = []
        for k in CLASSES:
            members = np.flatnonzero(labels == k)
            n_test = max(1, int(round(test_fraction * len(members))))
            if len(members) < n_test + min_train:
                msg = (f'class {k} has {len(members)} object(s): too few for a test split '
                       f'of {test_fraction:g} with at least {min_train} left to train on '
                       f'(class counts {training_set.class_counts()})')
                raise ValueError(msg)
            test.append(rng.choice(members, n_test, replace=False))
        test = np.sort(np.concatenate(test))
    elif by == 'group':
        names = sorted(set(training_set.groups.tolist()))
        if test_groups is None:
            if len(names) < 2:
                msg = "by='group' needs at least two groups (e.g. galaxies or fields)"
                raise ValueError(msg)
            chosen, n = [], 0
            for name in rng.permutation(names):
                if n >= test_fraction * len(labels) or len(chosen) == len(names) - 1:
                    break
                chosen.append(str(name))
                n += int(np.sum(training_set.groups == name))
            test_groups = chosen
        unknown = set(test_groups) - set(names)
        if unknown:
            msg = f'test_groups {sorted(unknown)} are not groups of the set; groups: {names}'
            raise ValueError(msg)
        test = np.flatnonzero(np.isin(training_set.groups, list(test_groups)))
    else:
        msg = f"by must be 'object' or 'group', got {by!r}"
        raise ValueError(msg)
    train = np.setdiff1d(np.arange(len(labels)), test)
    for name, index, least in (('training', train, min_train), ('test', test, 1)):
        counts = training_set.class_counts(index)
        short = {k: v for k, v in counts.items() if v < least}
        if short:
            msg = (f'the {name} split has too few objects of classes {sorted(short)} '
                   f'({counts}); every class needs at least {least}')
            raise ValueError(msg)
    return train, test


def as_table(training_set, index=None):
    """The labels, ids and groups of ``training_set`` (rows ``index``) as a QTable."""
    index = np.arange(len(training_set)) if index is None else np.asarray(index)
    return QTable({'id': training_set.ids[index], 'group': training_set.groups[index],
                   'class': training_set.labels[index]})


def is_table(value):
    """True for astropy tables (data given as a labelled table + images)."""
    return isinstance(value, Table)

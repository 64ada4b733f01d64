"""
The PHANGS-HST / LEGUS morphological class scheme.

Classes (Whitmore et al. 2021, §3.2 and Table 3):

===== ======================================= ===========
class name                                    DS9 colour
===== ======================================= ===========
0     not inspected (LEGUS only)              white
1     symmetric compact cluster               red
2     asymmetric compact cluster              green
3     compact association (multiple peaks)    blue
4     artefact / not a cluster                yellow
===== ======================================= ===========

PHANGS-HST splits class 4 into twelve subclasses, written ``'4.1'`` …
``'4.12'`` (strings, because 4.1 and 4.10 are the same number).
LEGUS has no subclasses and usually calls pairs and triplets class 3;
`phangs_to_legus` maps PHANGS 4.2 (pair) and 4.3 (triplet) into class 3
for LEGUS-style comparisons. "Class 1+2", the standard cluster sample, is
treated as one class in every comparison (`merge_1_2`).
"""

import numpy as np

__all__ = ['CLASSES', 'CLASS_NAMES', 'CLASS_COLORS', 'NOT_INSPECTED',
           'CLUSTER_CLASSES', 'SUBCLASSES', 'validate_classes', 'merge_1_2',
           'is_cluster', 'phangs_to_legus', 'class_label']

#: The four classes a classifier assigns.
CLASSES = (1, 2, 3, 4)

#: LEGUS value for a candidate nobody inspected.
NOT_INSPECTED = 0

#: Classes that make the standard cluster sample ("class 1+2").
CLUSTER_CLASSES = (1, 2)

#: Short names of the classes.
CLASS_NAMES = {
    0: 'not inspected',
    1: 'symmetric compact cluster',
    2: 'asymmetric compact cluster',
    3: 'compact association',
    4: 'artefact / not a cluster',
}

#: DS9 colours of the classes (0 and masked classes are drawn white).
CLASS_COLORS = {0: 'white', 1: 'red', 2: 'green', 3: 'blue', 4: 'yellow'}

#: PHANGS-HST class-4 subclasses (Whitmore et al. 2021, Table 3).
SUBCLASSES = {
    '4.1': 'single star',
    '4.2': 'pair',
    '4.3': 'triplet',
    '4.4': 'saturated star',
    '4.5': 'diffraction spike',
    '4.6': 'galaxy nucleus',
    '4.7': 'background galaxy',
    '4.8': 'fluff (no peak)',
    '4.9': 'redundant detection',
    '4.10': 'too faint to tell',
    '4.11': 'edge',
    '4.12': 'bad pixel',
}

#: Subclasses that LEGUS counts as class 3 (multiple peaks).
LEGUS_CLASS3_SUBCLASSES = ('4.2', '4.3')


def validate_classes(classes, *, allow_zero=True, parameter='classes'):
    """
    Check class labels and return them as an integer array.

    Parameters
    ----------
    classes : array-like
        Class labels. Masked entries (a `numpy.ma.MaskedArray` or an
        astropy masked column) are kept masked; floats must be whole numbers.
    allow_zero : bool, optional
        Accept LEGUS's 0 ("not inspected").
    parameter : str, optional
        Name used for ``classes`` in error messages.

    Returns
    -------
    classes : `numpy.ma.MaskedArray` of int
        The labels, masked where the input was masked.

    Raises
    ------
    ValueError
        If a label is not a whole number in the scheme; the message lists
        the offending values.

    Examples
    --------
    >>> from astro_clusterclass.classes import validate_classes
    >>> validate_classes([1, 2.0, 4]).tolist()
    [1, 2, 4]
    >>> validate_classes([1, 7])
    Traceback (most recent call last):
    ...
    ValueError: classes contains labels outside the class scheme [0, 1, 2, 3, 4]: [7]
    """
    values = np.ma.masked_invalid(np.ma.asarray(classes, dtype=float))
    allowed = (0, *CLASSES) if allow_zero else CLASSES
    data = values.filled(allowed[0])
    bad = ~np.isin(data, allowed) & ~np.ma.getmaskarray(values)
    if np.any(bad):
        shown = [int(v) if float(v).is_integer() else v
                 for v in sorted(set(np.asarray(data)[bad].tolist()))[:10]]
        msg = (f'{parameter} contains labels outside the class scheme '
               f'{list(allowed)}: {shown}')
        raise ValueError(msg)
    return np.ma.MaskedArray(data.astype(int), mask=np.ma.getmask(values))


def merge_1_2(classes):
    """
    Merge classes 1 and 2 into one class, labelled 1.

    Use it before any comparison that should treat "class 1+2" as a single
    class. Other labels and masks are unchanged.

    Examples
    --------
    >>> from astro_clusterclass.classes import merge_1_2
    >>> merge_1_2([1, 2, 3, 4, 0]).tolist()
    [1, 1, 3, 4, 0]
    """
    out = validate_classes(classes)
    return np.ma.where(out == 2, 1, out)


def is_cluster(classes):
    """
    True where the class is 1 or 2 (the standard cluster sample).

    Masked labels give False.

    Examples
    --------
    >>> from astro_clusterclass.classes import is_cluster
    >>> is_cluster([1, 2, 3, 4]).tolist()
    [True, True, False, False]
    """
    out = validate_classes(classes)
    return np.isin(out.filled(0), CLUSTER_CLASSES)


def phangs_to_legus(classes, subclasses):
    """
    Map PHANGS-HST classes to the LEGUS convention.

    LEGUS classifiers put pairs and triplets in class 3 where PHANGS-HST
    calls them 4.2 and 4.3 (Whitmore et al. 2021, §3.2). This function
    turns rows with subclass ``'4.2'`` or ``'4.3'`` into class 3 and leaves
    every other row unchanged.

    Parameters
    ----------
    classes : array-like of int
        PHANGS-HST classes 1-4.
    subclasses : array-like of str
        Subclass codes such as ``'4.2'``; empty or masked where there is none.

    Returns
    -------
    classes : `numpy.ma.MaskedArray` of int

    Examples
    --------
    >>> from astro_clusterclass.classes import phangs_to_legus
    >>> phangs_to_legus([1, 4, 4, 4], ['', '4.2', '4.3', '4.1']).tolist()
    [1, 3, 3, 4]
    """
    out = validate_classes(classes)
    sub = np.ma.asarray(subclasses).astype(str).filled('')
    if sub.shape != out.shape:
        msg = (f'subclasses has shape {sub.shape} but classes has shape '
               f'{out.shape}')
        raise ValueError(msg)
    unknown = set(sub.tolist()) - set(SUBCLASSES) - {''}
    if unknown:
        msg = (f'subclasses contains codes outside the scheme: '
               f'{sorted(unknown)}; expected one of {list(SUBCLASSES)}')
        raise ValueError(msg)
    to_three = (out.filled(0) == 4) & np.isin(sub, LEGUS_CLASS3_SUBCLASSES)
    return np.ma.where(to_three, 3, out)


def class_label(value):
    """
    Human-readable label of a class or subclass.

    Examples
    --------
    >>> from astro_clusterclass.classes import class_label
    >>> class_label(1)
    'class 1: symmetric compact cluster'
    >>> class_label('4.2')
    'class 4.2: pair'
    """
    if isinstance(value, str) and value in SUBCLASSES:
        return f'class {value}: {SUBCLASSES[value]}'
    key = int(value)
    if key not in CLASS_NAMES:
        msg = f'value={value!r} is not a class of the scheme'
        raise ValueError(msg)
    return f'class {key}: {CLASS_NAMES[key]}'

"""The class scheme."""

import numpy as np
import pytest

from astro_clusterclass.classes import (CLASS_COLORS, CLASS_NAMES, SUBCLASSES, class_label,
                                        is_cluster, merge_1_2, phangs_to_legus,
                                        validate_classes)


def test_scheme_matches_paper():
    assert [CLASS_COLORS[k] for k in (1, 2, 3, 4)] == ['red', 'green', 'blue', 'yellow']
    assert len(SUBCLASSES) == 12
    assert list(SUBCLASSES)[9] == '4.10'  # kept distinct from 4.1
    assert SUBCLASSES['4.2'] == 'pair' and SUBCLASSES['4.3'] == 'triplet'
    assert CLASS_NAMES[0] == 'not inspected'


def test_validate_keeps_masks_and_rejects_outsiders():
    out = validate_classes(np.ma.array([1.0, 2.0, 9.0], mask=[False, False, True]))
    assert out.tolist() == [1, 2, None]
    with pytest.raises(ValueError, match=r'labels outside the class scheme \[1, 2, 3, 4\]: \[0\]'):
        validate_classes([0, 1], allow_zero=False, parameter='labels')
    with pytest.raises(ValueError, match=r'\[1.5\]'):
        validate_classes([1.5])
    assert validate_classes([np.nan, 3]).mask.tolist() == [True, False]


def test_merge_and_cluster_sample():
    classes = np.ma.array([1, 2, 3, 4, 0, 2], mask=[0, 0, 0, 0, 0, 1])
    assert merge_1_2(classes).tolist() == [1, 1, 3, 4, 0, None]
    assert is_cluster(classes).tolist() == [True, True, False, False, False, False]


def test_phangs_pairs_and_triplets_become_class_3():
    classes = [4, 4, 4, 4, 1, 3]
    subclasses = ['4.1', '4.2', '4.3', '4.10', '', '']
    assert phangs_to_legus(classes, subclasses).tolist() == [4, 3, 3, 4, 1, 3]
    with pytest.raises(ValueError, match=r"codes outside the scheme: \['4.13'\]"):
        phangs_to_legus([4], ['4.13'])
    with pytest.raises(ValueError, match='subclasses has shape'):
        phangs_to_legus([4, 4], ['4.2'])


def test_labels():
    assert class_label(3) == 'class 3: compact association'
    assert class_label('4.12') == 'class 4.12: bad pixel'
    with pytest.raises(ValueError, match='not a class'):
        class_label(7)

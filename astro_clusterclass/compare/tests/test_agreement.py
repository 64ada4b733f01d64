"""Agreement fractions and confusion matrices against independent loops, the paper and LEGUS."""

from collections import Counter

import numpy as np
import pytest
from astropy.table import MaskedColumn, QTable

from astro_clusterclass.compare import (agreement_fractions, agreement_vs_property,
                                        confusion_matrix, mean_with_error)
from astro_clusterclass.conftest import legus_file


def _random_pairs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, n)
    # B agrees with A 60 per cent of the time, otherwise random.
    b = np.where(rng.uniform(size=n) < 0.6, a, rng.integers(0, 5, n))
    return QTable({'a': a, 'b': b, 'mag': rng.uniform(19, 25, n)})


def _loop_fractions(a, b, group):
    """f = mean(n/N_A, n/N_B) by counting in plain Python."""
    pairs = [(x, y) for x, y in zip(a.tolist(), b.tolist()) if 1 <= x <= 4 and 1 <= y <= 4]
    n_a = sum(1 for x, _ in pairs if x in group)
    n_b = sum(1 for _, y in pairs if y in group)
    n = sum(1 for x, y in pairs if x in group and y in group)
    return n_a, n_b, n, 0.5 * (n / n_a + n / n_b)


def test_fractions_equal_a_plain_count():
    tbl = _random_pairs()
    f = agreement_fractions(tbl, 'a', 'b')
    assert f['class'].tolist() == ['1', '2', '3', '4', 'mean', '1+2']
    for row, group in zip(f, ([1], [2], [3], [4], None, [1, 2])):
        if group is None:
            continue
        n_a, n_b, n, frac = _loop_fractions(tbl['a'], tbl['b'], group)
        assert (row['n_a'], row['n_b'], row['n_both']) == (n_a, n_b, n)
        assert row['fraction'] == pytest.approx(frac)
        p_a, p_b = n / n_a, n / n_b
        err = 0.5 * (np.sqrt(p_a * (1 - p_a) / n_a) + np.sqrt(p_b * (1 - p_b) / n_b))
        assert row['fraction_err'] == pytest.approx(err)
    per_class = np.array(f['fraction'][:4])
    assert f['fraction'][4] == pytest.approx(per_class.mean())
    assert f['fraction_err'][4] == pytest.approx(per_class.std(ddof=1) / 2)
    n_used = sum(1 for x, y in zip(tbl['a'], tbl['b']) if x > 0 and y > 0)
    assert f.meta['n_used'] == n_used and f.meta['n_rows'] == len(tbl)


def test_fractions_are_symmetric_and_one_for_identical_classes():
    tbl = _random_pairs(seed=1)
    ab = agreement_fractions(tbl, 'a', 'b')
    ba = agreement_fractions(tbl, 'b', 'a')
    np.testing.assert_allclose(ab['fraction'], ba['fraction'])
    same = agreement_fractions(tbl, 'a', 'a')
    np.testing.assert_allclose(same['fraction'], 1.0)


def test_masked_and_zero_labels_are_left_out():
    tbl = QTable({'a': MaskedColumn([1, 1, 2, 2, 3], mask=[False, True, False, False, False]),
                  'b': [1, 2, 2, 0, 3]})
    f = agreement_fractions(tbl, 'a', 'b')
    assert f.meta['n_used'] == 3
    assert f['fraction'][:3].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(f['fraction'][3])  # nobody put anything in class 4


@pytest.mark.parametrize('call, error, match', [
    (lambda tbl: agreement_fractions(tbl, 'a', 'b'), ValueError,
     r"column_a \('a'\) contains labels outside the class scheme .*\[5(\.0)?\]"),
    (lambda tbl: confusion_matrix(tbl, 'b', 'c'), ValueError, 'outside the class scheme'),
    (lambda tbl: agreement_fractions(tbl, 'b', 'nope'), ValueError,
     "column_b: 'nope' is not a column"),
    (lambda tbl: agreement_fractions(tbl, 'b', 'b', classes=(1, 7)), ValueError,
     'classes must be two or more'),
    (lambda tbl: confusion_matrix(tbl, 'b', 'b', normalize='rows'), ValueError, 'normalize'),
    (lambda tbl: agreement_fractions({'a': [1]}, 'a', 'a'), TypeError,
     'must be an astropy Table'),
])
def test_labels_outside_the_scheme_and_missing_columns_raise(call, error, match):
    tbl = QTable({'a': [1, 2, 5], 'b': [1, 2, 3], 'c': [1.0, 4.2, 2.0]})
    with pytest.raises(error, match=match):
        call(tbl)


def _matrix(tbl):
    return np.array([np.asarray(tbl[c], dtype=float) for c in tbl.colnames[1:]]).T


def test_confusion_matrices_against_counter():
    tbl = _random_pairs(seed=2)
    counts = _matrix(confusion_matrix(tbl, 'a', 'b', normalize=None))
    counter = Counter((x, y) for x, y in zip(tbl['a'].tolist(), tbl['b'].tolist())
                      if x > 0 and y > 0)
    expected = np.array([[counter[(i, j)] for j in range(1, 5)] for i in range(1, 5)])
    np.testing.assert_array_equal(counts, expected)
    by_a = _matrix(confusion_matrix(tbl, 'a', 'b', normalize='a'))
    by_b = _matrix(confusion_matrix(tbl, 'a', 'b', normalize='b'))
    np.testing.assert_allclose(by_a.sum(axis=1), 1.0)
    np.testing.assert_allclose(by_b.sum(axis=0), 1.0)
    mean = _matrix(confusion_matrix(tbl, 'a', 'b'))
    np.testing.assert_allclose(mean, 0.5 * (expected / expected.sum(1, keepdims=True)
                                            + expected / expected.sum(0, keepdims=True)))
    # SPEC §5: the diagonal of the matrix without ground truth is f_k.
    f = agreement_fractions(tbl, 'a', 'b')
    np.testing.assert_allclose(np.diag(mean), f['fraction'][:4])
    # Swapping A and B transposes it.
    np.testing.assert_allclose(_matrix(confusion_matrix(tbl, 'b', 'a')), mean.T)


def test_confusion_matrix_subset_of_classes():
    tbl = QTable({'a': [1, 2, 3, 4, 1], 'b': [2, 1, 3, 1, 1]})
    m = confusion_matrix(tbl, 'a', 'b', classes=(1, 2, 3), normalize=None)
    assert m.colnames == ['class_a', 'class_b_1', 'class_b_2', 'class_b_3']
    assert _matrix(m).tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 1]]
    assert m.meta['n_used'] == 4


def test_agreement_vs_property_bins():
    tbl = _random_pairs(n=1600, seed=5)
    trend = agreement_vs_property(tbl, 'a', 'b', 'mag', n_bins=4)
    used = (tbl['a'] > 0) & (tbl['b'] > 0)
    assert trend['n'].sum() == used.sum()
    assert max(trend['n']) - min(trend['n']) <= 1  # equal numbers (distinct values)
    for row in trend:
        inside = used & (tbl['mag'] >= row['mag_min']) & (tbl['mag'] <= row['mag_max'])
        sub = tbl[inside]
        for group, label in (([1], '1'), ([2, 1], '1+2')):
            group = sorted(group)
            expected = _loop_fractions(sub['a'], sub['b'], group)[3]
            assert row[f'fraction_{label}'] == pytest.approx(expected)
        assert row['mag_median'] == pytest.approx(np.median(sub['mag']))
    # A property given as an array; NaN values are left out.
    values = np.asarray(tbl['mag']).copy()
    values[:100] = np.nan
    trend2 = agreement_vs_property(tbl, 'a', 'b', values, n_bins=3, name='V')
    assert 'V_median' in trend2.colnames
    assert trend2['n'].sum() == np.sum(used & np.isfinite(values))
    with pytest.raises(ValueError, match='values has 5 entries'):
        agreement_vs_property(tbl, 'a', 'b', np.arange(5.0))
    with pytest.raises(ValueError, match="values: 'nope' is not a column"):
        agreement_vs_property(tbl, 'a', 'b', 'nope')


def test_mean_with_error_reproduces_table_1():
    """The "mean of means" row of Whitmore et al. (2021) Table 1."""
    galaxy_means = {  # NGC 628, 1433, 1566, 3351, 3627 "mean for above values"
        'class 1': ([0.80, 0.73, 0.80, 0.82, 0.84], 0.80, 0.02),
        'class 2': ([0.43, 0.55, 0.49, 0.57, 0.67], 0.54, 0.04),
        'class 3': ([0.54, 0.56, 0.50, 0.53, 0.68], 0.56, 0.03),
        'class 4': ([0.52, 0.62, 0.56, 0.72, 0.77], 0.64, 0.05),
        'mean': ([0.57, 0.62, 0.59, 0.66, 0.74], 0.64, 0.03),
        'class 1+2': ([0.83, 0.74, 0.81, 0.82, 0.91], 0.82, 0.03),
    }
    for name, (values, mean, err) in galaxy_means.items():
        ours = mean_with_error(values)
        assert round(ours[0], 2) == mean, name
        assert round(ours[1], 2) == err, name
    assert np.isnan(mean_with_error([0.5])[1])
    assert np.isnan(mean_with_error([])[0])


def test_ngc1566_human_versus_machine_learning():
    path = legus_file('ngc1566')
    tbl = QTable.read(path, format='legus')
    f = agreement_fractions(tbl, 'class_human', 'class_ml')
    counts = confusion_matrix(tbl, 'class_human', 'class_ml', normalize=None)
    # Independent of the reader: columns 36 and 37 of the raw file.
    raw = np.loadtxt(path, usecols=(35, 36)).astype(int)
    both = (raw[:, 0] > 0) & (raw[:, 1] > 0)
    assert f.meta['n_used'] == both.sum() == _matrix(counts).sum()
    expected = np.zeros((4, 4), int)
    np.add.at(expected, (raw[both, 0] - 1, raw[both, 1] - 1), 1)
    np.testing.assert_array_equal(_matrix(counts), expected)
    for k in range(4):
        n = expected[k, k]
        assert f['fraction'][k] == pytest.approx(0.5 * (n / expected[k].sum()
                                                        + n / expected[:, k].sum()))
    # Class 1+2 agrees better than classes 1 and 2 alone (paper §4.2).
    assert f['fraction'][5] > max(f['fraction'][0], f['fraction'][1])

"""select_for_review: each strategy's order against an independent sort, ties, exclusions."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, QTable

from astro_clusterclass.calibration import entropy, margin, select_for_review


@pytest.fixture
def classified():
    """A classified table: 60 candidates, 3 models, 4 unclassified."""
    rng = np.random.default_rng(0)
    members = rng.dirichlet(np.full(4, 0.6), size=(60, 3))
    mean = members.mean(axis=1)
    done = np.ones(60, bool)
    done[[5, 17, 33, 50]] = False
    tbl = QTable({'id': np.arange(100, 160)})
    for k in range(4):
        tbl[f'prob_{k + 1}'] = MaskedColumn(np.where(done, mean[:, k], 0.0), mask=~done)
    classes = np.argmax(members, axis=2) + 1
    quality = np.array([np.max(np.bincount(c, minlength=5)) / 3 for c in classes])
    tbl['class_quality'] = MaskedColumn(np.where(done, quality, 0.0), mask=~done)
    tbl['n_models'] = np.where(done, 3, 0)
    ent = entropy(mean)
    tbl['prob_entropy'] = MaskedColumn(np.where(done, ent, 0.0), mask=~done)
    tbl['prob_margin'] = MaskedColumn(np.where(done, margin(mean), 0.0), mask=~done)
    mi = ent - np.mean([entropy(members[:, m]) for m in range(3)], axis=0)
    tbl['prob_mutual_info'] = MaskedColumn(np.where(done, mi, 0.0), mask=~done)
    tbl['mag_F555W'] = rng.uniform(20, 25, 60) * u.mag
    tbl['mag_F555W'][7] = np.nan * u.mag
    tbl.meta['keep'] = 1
    return tbl, done


@pytest.mark.parametrize('strategy, column, largest_first', [
    ('entropy', 'prob_entropy', True), ('margin', 'prob_margin', False),
    ('disagreement', 'prob_mutual_info', True), ('magnitude', 'mag_F555W', False)])
def test_order_of_continuous_scores(classified, strategy, column, largest_first):
    tbl, done = classified
    values = np.ma.filled(np.ma.asarray(getattr(tbl[column], 'value', tbl[column]),
                                        dtype=float), np.nan)
    eligible = [i for i in range(60) if np.isfinite(values[i])
                and (done[i] or strategy == 'magnitude')]
    expected = sorted(eligible, key=lambda i: -values[i] if largest_first else values[i])[:10]
    out = select_for_review(tbl, 10, strategy=strategy)
    assert out['review_row'].tolist() == expected
    assert out['id'].tolist() == [100 + i for i in expected]
    assert out['review_rank'].tolist() == list(range(1, 11))
    np.testing.assert_allclose(out['review_score'], values[expected])
    assert out.meta['keep'] == 1 and out.meta['review']['strategy'] == strategy


def test_entropy_and_margin_computed_when_columns_are_absent(classified):
    tbl, _ = classified
    bare = tbl.copy()
    bare.remove_columns(['prob_entropy', 'prob_margin'])
    for strategy in ('entropy', 'margin'):
        assert select_for_review(bare, 8, strategy=strategy)['review_row'].tolist() == \
            select_for_review(tbl, 8, strategy=strategy)['review_row'].tolist()


def test_quality_ties_are_broken_by_the_seed(classified):
    tbl, done = classified
    q = np.ma.filled(tbl['class_quality'], np.nan)
    out = select_for_review(tbl, 15, strategy='quality', seed=1)
    scores = np.asarray(out['review_score'])
    assert np.all(np.diff(scores) >= 0)                    # lowest agreement first
    lowest = np.sort(q[done])[:15]
    np.testing.assert_allclose(scores, lowest)
    same = select_for_review(tbl, 15, strategy='quality', seed=1)
    other = select_for_review(tbl, 15, strategy='quality', seed=2)
    assert same['review_row'].tolist() == out['review_row'].tolist()
    assert other['review_row'].tolist() != out['review_row'].tolist()


def test_random_is_seeded_and_never_takes_unclassified_rows(classified):
    tbl, done = classified
    a = select_for_review(tbl, 60, strategy='random', seed=3)
    b = select_for_review(tbl, 60, strategy='random', seed=3)
    assert a['review_row'].tolist() == b['review_row'].tolist()
    assert len(a) == 60          # random needs no probabilities: every row is eligible
    assert select_for_review(tbl, 60, strategy='random', seed=4)['review_row'].tolist() != \
        a['review_row'].tolist()
    ent = select_for_review(tbl, 100, strategy='entropy')
    assert len(ent) == done.sum() and not set(np.flatnonzero(~done)) & set(ent['review_row'])
    assert ent.meta['review']['n_eligible'] == done.sum()


def test_exclude(classified):
    tbl, _ = classified
    first = select_for_review(tbl, 5)['review_row'].tolist()
    mask = np.zeros(60, bool)
    mask[first[:2]] = True
    assert select_for_review(tbl, 3, exclude=mask)['review_row'].tolist() == first[2:5]
    tbl['label'] = MaskedColumn(np.zeros(60, int), mask=np.ones(60, bool))
    tbl['label'][first[0]] = 3
    tbl['label'][first[1]] = 0          # 0: not inspected, so still eligible
    assert select_for_review(tbl, 2, exclude='label')['review_row'].tolist() == first[1:3]
    tbl['done'] = mask
    assert select_for_review(tbl, 3, exclude='done')['review_row'].tolist() == first[2:5]
    with pytest.raises(ValueError, match='exclude must be a column name or 60 booleans'):
        select_for_review(tbl, 3, exclude=[True, False])


def test_errors(classified):
    tbl, _ = classified
    with pytest.raises(ValueError, match='strategy must be one of'):
        select_for_review(tbl, 3, strategy='loss')
    with pytest.raises(ValueError, match='n must be a positive integer'):
        select_for_review(tbl, 0)
    one = tbl.copy()
    one['n_models'] = 1
    with pytest.raises(ValueError, match='classified by one model'):
        select_for_review(one, 3, strategy='disagreement')
    with pytest.raises(ValueError, match="magnitude_column: 'mag_V' is not a column"):
        select_for_review(tbl, 3, strategy='magnitude', magnitude_column='mag_V')
    with pytest.raises(ValueError, match="tbl: 'prob_mutual_info' is not a column"):
        select_for_review(tbl['prob_1', 'prob_2', 'prob_3', 'prob_4'], 3,
                          strategy='disagreement')
    picked = select_for_review(tbl, 3)
    with pytest.raises(ValueError, match='already has the columns'):
        select_for_review(picked, 1)

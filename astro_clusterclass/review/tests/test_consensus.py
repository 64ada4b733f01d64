"""consensus and review_agreement against hand-built cases and independent computations."""

import collections
import itertools
import json

import numpy as np
import pytest
from astropy.table import MaskedColumn, QTable
from scipy import stats

from astro_clusterclass.compare import agreement_fractions, confusion_matrix
from astro_clusterclass.review import CONSENSUS_COLUMNS, LabelStore, consensus, review_agreement


def make_catalog(n):
    rng = np.random.default_rng(2)
    return QTable({'id': np.arange(1, n + 1), 'x': rng.uniform(0, 100, n),
                   'y': rng.uniform(0, 100, n)})


@pytest.fixture
def store(tmp_path):
    with LabelStore(tmp_path / 'labels.sqlite', catalog=make_catalog(300)) as s:
        yield s


def test_hand_built_modes_ties_and_subclasses(store):
    labels = {                       # candidate: reviewer -> (class, subclass)
        1: {'ann': (1, None), 'bob': (1, None), 'cy': (2, None)},          # mode 1
        2: {'ann': (2, None), 'bob': (3, None)},                           # tie
        3: {'ann': (4, '4.2'), 'bob': (4, '4.2'), 'cy': (4, '4.7')},       # 4, 4.2
        4: {'ann': (4, '4.2'), 'bob': (4, '4.7'), 'cy': (1, None)},        # 4, subclass tie
        5: {'bob': (4, None)},                                            # 4, no subclass
        6: {'ann': (3, None), 'bob': (3, None), 'cy': (4, '4.1'), 'dee': (4, '4.1')},  # tie
        7: {'cy': (2, None)},
    }
    for candidate, given in labels.items():
        for reviewer, (klass, subclass) in given.items():
            store.add_label(candidate, reviewer=reviewer, label=klass, subclass=subclass)
    store.add_label(8, reviewer='ann', label=1)
    store.undo(reviewer='ann')                                   # 8: no label any more
    out = consensus(store)
    assert out.colnames == list(CONSENSUS_COLUMNS)
    assert out['candidate'].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert out['class_consensus'].tolist() == [1, None, 4, 4, 4, None, 2]
    assert out['subclass_consensus'].tolist() == [None, None, '4.2', None, None, None, None]
    assert out['n_reviews'].tolist() == [3, 2, 3, 3, 1, 4, 1]
    assert out['n_agree'].tolist() == [2, 1, 3, 2, 1, 2, 1]
    assert out['tie'].tolist() == [False, True, False, False, False, True, False]
    assert out['reviewers'].tolist() == ['ann,bob,cy', 'ann,bob', 'ann,bob,cy', 'ann,bob,cy',
                                         'bob', 'ann,bob,cy,dee', 'cy']
    assert out.meta['n_labelled'] == 7 and out.meta['n_ties'] == 2
    # A relabel counts once (the reviewer's current label), and undo restores.
    store.add_label(2, reviewer='bob', label=2)
    assert consensus(store, candidates=[2])['class_consensus'].tolist() == [2]
    store.undo(reviewer='bob')
    assert consensus(store, candidates=[2])['tie'].tolist() == [True]
    assert len(consensus(store, candidates=[9])) == 0
    with pytest.raises(TypeError, match='store must be a LabelStore'):
        consensus('labels.sqlite')


def random_reviews(store, seed, *, n_candidates=300, reviewers=('ann', 'bob', 'cy', 'dee')):
    """Random labels, relabels and undos; returns the expected current labels (tracked here)."""
    rng = np.random.default_rng(seed)
    stacks = collections.defaultdict(list)    # (candidate, reviewer) -> labels, undo pops
    order = []                                 # labels not undone, oldest first
    for _ in range(900):
        reviewer = str(rng.choice(reviewers))
        if rng.random() < 0.1:
            mine = [i for i, k in enumerate(order) if k[1] == reviewer]
            record = store.undo(reviewer=reviewer)
            if mine:
                key = order.pop(mine[-1])      # its most recent label not undone
                stacks[key].pop()
                assert record['candidate'] == key[0]
            else:
                assert record is None
            continue
        candidate = int(rng.integers(1, n_candidates + 1))
        klass = int(rng.integers(1, 5))
        store.add_label(candidate, reviewer=reviewer, label=klass)
        stacks[(candidate, reviewer)].append(klass)
        order.append((candidate, reviewer))
    expected = collections.defaultdict(dict)
    for (candidate, reviewer), stack in stacks.items():
        if stack:
            expected[candidate][reviewer] = stack[-1]
    return dict(expected)


@pytest.mark.parametrize('seed', [0, 1])
def test_consensus_of_random_labels_against_counter_and_scipy(store, seed):
    expected = random_reviews(store, seed)
    current = store.current()
    assert {c: {r['reviewer']: r['label'] for r in rs} for c, rs in current.items()} == expected
    out = consensus(store)
    assert out['candidate'].tolist() == sorted(expected)
    n_ties = 0
    for row in out:
        votes = list(expected[row['candidate']].values())
        counts = collections.Counter(votes)
        top = max(counts.values())
        tie = sum(1 for c in counts.values() if c == top) > 1
        assert row['tie'] == tie
        assert row['n_reviews'] == len(votes) and row['n_agree'] == top
        mode = stats.mode(votes, keepdims=False)
        assert int(mode.count) == top
        if tie:
            assert row['class_consensus'] is np.ma.masked
            n_ties += 1
        else:
            assert row['class_consensus'] == int(mode.mode)
    assert 0 < n_ties < len(out)


def by_hand(a, b, classes=(1, 2, 3, 4)):
    """Agreement fractions f_k = mean(n_k / N_A(k), n_k / N_B(k)) and the count matrix."""
    a, b = np.asarray(a), np.asarray(b)
    fractions = {}
    for k in classes:
        n = np.sum((a == k) & (b == k))
        fractions[str(k)] = 0.5 * (n / np.sum(a == k) + n / np.sum(b == k))
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for x, y in zip(a, b):
        counts[x - 1, y - 1] += 1
    return fractions, counts.tolist()


def test_agreement_between_reviewers_and_with_the_machine(store):
    expected = random_reviews(store, 3)
    rng = np.random.default_rng(9)
    tbl = make_catalog(300)
    machine = rng.integers(1, 5, 300)
    unclassified = rng.random(300) < 0.05
    tbl['class_mode'] = MaskedColumn(machine, mask=unclassified)
    result = review_agreement(tbl, store)
    json.dumps(result, allow_nan=False)                       # what the server sends
    assert result['reviewers'] == ['ann', 'bob', 'cy', 'dee']
    assert len(result['pairs']) == 6
    for pair in result['pairs']:
        a, b = pair['reviewer_a'], pair['reviewer_b']
        common = sorted(c for c in expected if a in expected[c] and b in expected[c])
        la = [expected[c][a] for c in common]
        lb = [expected[c][b] for c in common]
        assert pair['n_common'] == pair['n_used'] == len(common) > 20
        direct = agreement_fractions(QTable({'p': la, 'q': lb}), 'p', 'q')
        for row in direct:
            assert pair['fractions'][row['class']] == pytest.approx(float(row['fraction']))
        counts = confusion_matrix(QTable({'p': la, 'q': lb}), 'p', 'q', normalize=None)
        assert pair['confusion'] == [[int(r[f'class_b_{k}']) for k in (1, 2, 3, 4)]
                                     for r in counts]
        fractions, matrix = by_hand(la, lb)
        assert pair['confusion'] == matrix
        for k, f in fractions.items():
            assert pair['fractions'][k] == pytest.approx(f)
        assert pair['fractions']['mean'] == pytest.approx(np.mean(list(fractions.values())))
        mean_matrix = np.array(pair['confusion_mean'], dtype=float)
        np.testing.assert_allclose(np.diag(mean_matrix), list(fractions.values()))
    assert result['inter_reviewer_mean'] == pytest.approx(
        np.mean([p['fractions']['mean'] for p in result['pairs']]))
    # Human consensus (ties left out) against the machine, unclassified rows left out.
    agreed = {}
    for c, votes in expected.items():
        counts = collections.Counter(votes.values()).most_common()
        if len(counts) == 1 or counts[0][1] > counts[1][1]:
            agreed[c] = counts[0][0]
    used = [c for c in sorted(agreed) if not unclassified[c - 1]]
    human = [agreed[c] for c in used]
    ml = [int(machine[c - 1]) for c in used]
    m = result['machine']
    assert m['column'] == 'class_mode' and m['n_common'] == len(agreed)
    assert m['n_used'] == len(used)
    fractions, matrix = by_hand(human, ml)
    assert m['confusion'] == matrix
    for k, f in fractions.items():
        assert m['fractions'][k] == pytest.approx(f)
    assert result['n_consensus'] == len(agreed)
    assert result['n_labelled'] == len(expected)
    assert result['n_ties'] == len(expected) - len(agreed)


def test_agreement_options_and_errors(store):
    store.add_label(1, reviewer='ann', label=1)
    tbl = make_catalog(300)
    result = review_agreement(tbl, store)
    assert result['pairs'] == [] and result['inter_reviewer_mean'] is None
    assert result['machine'] is None                              # no machine column
    tbl['class_ml'] = np.ones(300, dtype=int)
    assert review_agreement(tbl, store)['machine']['column'] == 'class_ml'
    assert review_agreement(tbl, store, machine_column=None)['machine'] is None
    result = review_agreement(tbl, store, machine_column='class_ml')
    json.dumps(result, allow_nan=False)                           # empty classes: None
    assert result['machine']['fractions']['1'] == 1.0
    assert result['machine']['fractions']['2'] is None
    with pytest.raises(ValueError, match="machine_column: 'class_cnn' is not a column"):
        review_agreement(tbl, store, machine_column='class_cnn')
    with pytest.raises(ValueError, match="tbl: .*column 'id'"):
        review_agreement(tbl['x', 'y'], store)
    with pytest.raises(ValueError, match='classes must be one of'):
        review_agreement(tbl, store, classes=(1, 5))


def test_pairs_cover_every_combination(tmp_path):
    with LabelStore(tmp_path / 'l.sqlite', catalog=make_catalog(5)) as store:
        for name in ('c', 'a', 'b'):
            for candidate in (1, 2, 3):
                store.add_label(candidate, reviewer=name, label=candidate)
        pairs = review_agreement(make_catalog(5), store)['pairs']
    assert [(p['reviewer_a'], p['reviewer_b']) for p in pairs] == \
        list(itertools.combinations('abc', 2))
    assert all(p['fractions']['1'] == 1.0 and p['fractions']['4'] is None for p in pairs)

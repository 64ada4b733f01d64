"""scripts/active_learning.py: the selection loop and the headline arithmetic."""

import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import QTable

from astro_clusterclass.training import TrainingSet

SCRIPTS = Path(__file__).resolve().parents[3] / 'scripts'


@pytest.fixture(scope='module')
def study():
    if not (SCRIPTS / 'active_learning.py').is_file():
        pytest.skip('scripts/ is not beside the installed package')
    sys.path.insert(0, str(SCRIPTS))
    try:
        import active_learning
    finally:
        sys.path.remove(str(SCRIPTS))
    return active_learning


def _stamps(rng, labels):
    stamps = rng.normal(size=(len(labels), 5, 17, 17)).astype(np.float32)
    stamps[:, :, 8, 8] += labels[:, None] * 10            # learnable
    return TrainingSet.from_arrays(stamps, labels, size=16)


def test_labels_to_reach_interpolates(study):
    sizes = np.array([40, 80, 120, 160])
    assert study.labels_to_reach(sizes, np.array([0.5, 0.6, 0.7, 0.8]), 0.65) == \
        pytest.approx(100.0)
    assert study.labels_to_reach(sizes, np.array([0.7, 0.6, 0.7, 0.8]), 0.65) == 40.0
    assert study.labels_to_reach(sizes, np.array([0.5, 0.6, 0.6, 0.6]), 0.65) is None


def test_headline_from_a_hand_made_table(study):
    rows = []
    for repeat, shift in ((0, 0.0), (1, 0.02)):
        for n, acc in zip((10, 20, 30), (0.50, 0.60, 0.70)):
            rows.append({'strategy': 'random', 'repeat': repeat, 'n_labels': n,
                         'cluster_accuracy': acc + shift, 'mean_class_accuracy': acc,
                         'accuracy': acc})
        for n, acc in zip((10, 20, 30), (0.50, 0.71, 0.75)):
            rows.append({'strategy': 'entropy', 'repeat': repeat, 'n_labels': n,
                         'cluster_accuracy': acc + shift, 'mean_class_accuracy': acc,
                         'accuracy': acc})
    head = study.headline(QTable(rows=rows), 30)
    cluster = head['cluster_accuracy']
    assert cluster['random_at_budget'] == pytest.approx(0.71)
    assert cluster['random_at_budget_std'] == pytest.approx(0.01)
    assert cluster['labels_needed']['random'] == pytest.approx(30.0)
    # Entropy's mean curve is 0.51, 0.72, 0.76: it passes 0.71 between 10 and 20.
    assert cluster['labels_needed']['entropy'] == pytest.approx(10 + 10 * 0.20 / 0.21)
    # Mean of classes: random reaches 0.70; entropy's 0.50, 0.71 passes it at 19.5.
    assert head['mean_class_accuracy']['labels_needed']['entropy'] == pytest.approx(
        10 + 10 * 0.20 / 0.21)


def test_the_loop_labels_what_it_selects(study):
    rng = np.random.default_rng(0)
    pool = _stamps(rng, np.repeat([1, 2, 3, 4], 15))
    test = _stamps(rng, np.repeat([1, 2, 3, 4], 5))
    results = study.run_study(pool, test, strategies=['random', 'entropy'], repeats=1,
                              initial=8, batch=4, budget=16, members=2, epochs=1.0,
                              min_batches=3, widths=[4, 8, 8], log=lambda line: None)
    assert len(results) == 2 * 3
    assert results['n_labels'].tolist() == [8, 12, 16] * 2
    counts = np.array([[r[f'n_class_{k}'] for k in (1, 2, 3, 4)] for r in results])
    assert (counts.sum(axis=1) == results['n_labels']).all()
    assert (counts[[0, 3]] >= 1).all()                  # the initial set holds every class
    # Both strategies start from the same initial set and the same first ensemble.
    first = results[results['n_labels'] == 8]
    assert first['accuracy'][0] == first['accuracy'][1]
    assert set(results['strategy']) == {'random', 'entropy'}

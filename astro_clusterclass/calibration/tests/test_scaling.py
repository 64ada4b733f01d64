"""Temperature and vector scaling: recovery of known maps, held-out gains, storage, errors."""

import json

import numpy as np
import pytest
import torch
from astropy.table import MaskedColumn, QTable
from scipy.special import softmax

from astro_clusterclass.calibration import (Calibration, expected_calibration_error,
                                            fit_calibration, fit_temperature,
                                            negative_log_likelihood, read_calibration,
                                            stored_calibration)
from astro_clusterclass.models import get_model, load_model, save_checkpoint


def _draw(rng, p):
    """One label per row drawn from the probabilities ``p`` (classes 1..K)."""
    return 1 + np.argmax(rng.random((len(p), 1)) < p.cumsum(axis=1), axis=1)


def _calibrated_logits(seed, n=20000, spread=2.0):
    """Logits and labels drawn from their own softmax: a calibrated classifier."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 4)) * spread + rng.normal(size=4)
    return logits, _draw(rng, softmax(logits, axis=1))


def _nll_loop(logits, labels, t):
    """The objective, one object at a time (to check the optimum independently)."""
    total = 0.0
    for row, label in zip(logits, labels):
        z = row / t
        total += np.log(np.sum(np.exp(z - z.max()))) + z.max() - z[label - 1]
    return total / len(logits)


@pytest.mark.parametrize('true_t', [0.5, 2.5])
def test_recovers_a_known_temperature(true_t):
    logits, labels = _calibrated_logits(0, n=40000)
    # The classifier reports logits true_t times too large: softmax(z / true_t) is right.
    cal = fit_temperature(logits * true_t, labels)
    assert cal.temperature == pytest.approx(true_t, rel=0.03)
    assert cal.method == 'temperature' and cal.kind == 'logits'
    # It is the minimum of the NLL: both neighbours are worse (checked by a loop).
    z, y = (logits * true_t)[:2000], labels[:2000]
    sub = fit_temperature(z, y)
    best = _nll_loop(z, y, sub.temperature)
    assert best <= _nll_loop(z, y, sub.temperature * 1.01)
    assert best <= _nll_loop(z, y, sub.temperature / 1.01)


def test_leaves_a_calibrated_model_alone():
    for seed in (1, 2):
        logits, labels = _calibrated_logits(seed)
        assert fit_temperature(logits, labels).temperature == pytest.approx(1.0, abs=0.03)


def test_lowers_the_held_out_nll_of_an_over_confident_model():
    logits, labels = _calibrated_logits(3, n=10000)
    sharp = 3.0 * logits                           # over-confident by a factor 3
    fit_rows, held_out = slice(0, 5000), slice(5000, None)
    cal = fit_temperature(sharp[fit_rows], labels[fit_rows])
    before = softmax(sharp[held_out], axis=1)
    after = cal.apply(sharp[held_out])
    y = labels[held_out]
    assert negative_log_likelihood(after, y) < 0.9 * negative_log_likelihood(before, y)
    assert expected_calibration_error(after, y) < expected_calibration_error(before, y) / 3
    # Temperature scaling never changes the most probable class.
    np.testing.assert_array_equal(np.argmax(after, 1), np.argmax(before, 1))
    # The fit records what it did on its own data.
    assert cal.fit['n'] == 5000 and cal.fit['after']['nll'] < cal.fit['before']['nll']
    assert sum(cal.fit['class_counts'].values()) == 5000


def test_probabilities_and_logits_give_the_same_temperature():
    logits, labels = _calibrated_logits(4, n=5000)
    z = 2.0 * logits
    from_logits = fit_temperature(z, labels, kind='logits')
    from_probs = fit_temperature(softmax(z, axis=1), labels, kind='probabilities')
    assert from_probs.temperature == pytest.approx(from_logits.temperature, rel=1e-6)
    np.testing.assert_allclose(from_probs.apply(softmax(z, axis=1)), from_logits.apply(z),
                               atol=1e-9)
    # A temperature applies to either kind of score.
    np.testing.assert_allclose(from_logits.apply(softmax(z, axis=1), kind='probabilities'),
                               from_logits.apply(z), atol=1e-9)


def test_vector_scaling_recovers_per_class_scales():
    rng = np.random.default_rng(5)
    n = 40000
    logits = rng.normal(size=(n, 4)) * 1.5
    labels = _draw(rng, softmax(logits, axis=1))
    scale = np.array([0.5, 1.0, 2.0, 0.8])
    bias = np.array([0.3, -0.2, 0.1, -0.2])
    reported = (logits - bias) / scale              # softmax(scale * reported + bias) is true
    cal = fit_temperature(reported, labels, method='vector')
    assert cal.temperature is None
    np.testing.assert_allclose(cal.scale, scale, rtol=0.06)
    np.testing.assert_allclose(cal.bias, bias - bias.mean(), atol=0.05)
    temp = fit_temperature(reported, labels)
    assert cal.fit['after']['nll'] < temp.fit['after']['nll']
    with pytest.raises(ValueError, match='applies to logits only'):
        cal.apply(softmax(reported, axis=1), kind='probabilities')


def test_apply_keeps_nan_rows_and_checks_sums():
    cal = Calibration('temperature', 'probabilities', temperature=2.0)
    p = np.array([[0.7, 0.1, 0.1, 0.1], [np.nan] * 4, [0.25] * 4])
    out = cal.apply(p)
    assert np.isnan(out[1]).all()
    np.testing.assert_allclose(out[0], softmax(np.log(p[0]) / 2))
    np.testing.assert_allclose(out[2], 0.25)
    with pytest.raises(ValueError, match='do not sum to 1'):
        cal.apply([[0.5, 0.1, 0.1, 0.1]])
    # Masked rows (an unclassified candidate of a table) are NaN rows.
    masked = np.ma.MaskedArray(p[[0, 2]], mask=[[False] * 4, [True] * 4])
    assert np.isnan(cal.apply(masked)[1]).all()


@pytest.mark.parametrize('scores, labels, kwargs, match', [
    ([[1.0, 0, 0, 0]] * 3, [1, 2], {}, 'scores has 3 rows but labels has 2'),
    ([[1.0, 0, 0, 0]] * 2, [1, 7], {}, r'outside the classes \[1, 2, 3, 4\]: \[7\]'),
    ([[1.0, 0, 0, 0], [np.nan, 0, 0, 0]], [1, 2], {}, 'NaN.*row 1'),
    ([[0.6, 0.1, 0.1, 0.1]] * 2, [1, 2], {'kind': 'probabilities'}, 'do not sum to 1'),
    ([[2.0, 0, 0, 0], [0.0, 1, 0, 0]], [1, 1], {}, r'one class only \(1\)'),
    ([[2.0, 0, 0, 0], [0.0, 1, 0, 0]], [1, 2], {'method': 'vector'},
     r'classes \[3, 4\] are missing'),
    ([[2.0, 0, 0, 0], [0.0, 1, 0, 0]], [1, 2], {}, 'every one is classified correctly'),
    ([[1.0, 0, 0, 0]] * 2, [1, 2], {'kind': 'odds'}, "kind must be 'logits' or"),
    ([[1.0, 0, 0, 0]] * 2, [1, 2], {'method': 'platt'}, 'method must be one of'),
])
def test_fit_errors(scores, labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_temperature(scores, labels, **kwargs)


def test_uninformative_scores_are_refused():
    # Identical scores for every object: no temperature explains anything.
    with pytest.raises(ValueError, match='no information'):
        fit_temperature([[0.0, 0, 0, 0]] * 4, [1, 2, 3, 4])


def test_record_round_trip_and_file(tmp_path):
    logits, labels = _calibrated_logits(6, n=2000)
    cal = fit_temperature(2 * logits, labels, models=['ab' * 32])
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal and again.fit == cal.fit
    path = tmp_path / 'm.calibration.json'
    cal.save(path)
    assert read_calibration(path) == cal
    with pytest.raises(FileExistsError, match='pass overwrite=True'):
        cal.save(path)
    cal.save(path, overwrite=True)
    vector = fit_temperature(2 * logits, labels, method='vector')
    assert Calibration.from_dict(vector.to_dict()) == vector
    assert 'T=' in repr(cal) and 'scale=' in repr(vector)


def test_bad_records_and_files(tmp_path):
    with pytest.raises(ValueError, match='not a calibration record'):
        Calibration.from_dict({'method': 'temperature'})
    record = Calibration('temperature', 'logits', temperature=1.2).to_dict()
    with pytest.raises(ValueError, match='format_version 9 is not supported'):
        Calibration.from_dict(dict(record, format_version=9))
    with pytest.raises(ValueError, match='temperature must be a positive number'):
        Calibration('temperature', 'logits', temperature=-1.0)
    with pytest.raises(ValueError, match='scale must be 4 finite numbers'):
        Calibration('vector', 'logits', scale=[1, 2], bias=[0, 0, 0, 0])
    bad = tmp_path / 'x.calibration.json'
    bad.write_text('{not json')
    with pytest.raises(ValueError, match='is not a calibration file'):
        read_calibration(bad)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        read_calibration(tmp_path / 'missing.json')


# ----------------------------------------------------------------------------
# Fitting on a classified table

def _classified_table(seed=8, n=3000):
    """A table as classify_table makes it: mean probabilities of an over-confident model."""
    logits, labels = _calibrated_logits(seed, n=n)
    p = softmax(2.5 * logits, axis=1)
    mask = np.zeros(n, bool)
    mask[:10] = True                                  # unclassified candidates
    tbl = QTable({f'prob_{k}': MaskedColumn(np.where(mask, 0.0, p[:, k - 1]), mask=mask)
                  for k in (1, 2, 3, 4)})
    tbl['class'] = labels
    tbl.meta['file'] = 'labelled.ecsv'
    tbl.meta['classification'] = {'models': [{'sha256': 'a' * 64}, {'sha256': 'b' * 64}],
                                  'calibration': None}
    return tbl, logits, labels


def test_fit_calibration_on_a_table():
    tbl, logits, labels = _classified_table()
    cal = fit_calibration(tbl)
    direct = fit_temperature(2.5 * logits[10:], labels[10:])
    assert cal.temperature == pytest.approx(direct.temperature, rel=1e-5)
    assert cal.kind == 'probabilities' and cal.models == ('a' * 64, 'b' * 64)
    data = cal.fit['data']
    assert data['n_unclassified'] == 10 and data['n_used'] == len(tbl) - 10
    assert data['description'] == 'labelled.ecsv' and data['label_column'] == 'class'


def test_fit_calibration_labels_and_refusals():
    tbl, _, _ = _classified_table()
    tbl['class'] = MaskedColumn(tbl['class'], mask=np.arange(len(tbl)) % 7 == 0)
    tbl['class'][20] = 0                              # LEGUS "not inspected"
    with pytest.raises(ValueError, match="without a class 1-4.*unknown_labels='drop'"):
        fit_calibration(tbl)
    cal = fit_calibration(tbl, unknown_labels='drop')
    assert cal.fit['data']['n_unlabelled'] == int(np.sum((np.arange(10, len(tbl)) % 7 == 0))) + 1
    with pytest.raises(ValueError, match="label_column: 'truth' is not a column"):
        fit_calibration(tbl, label_column='truth')
    tbl.meta['classification']['calibration'] = {'method': 'temperature'}
    with pytest.raises(ValueError, match='holds calibrated probabilities'):
        fit_calibration(tbl)


# ----------------------------------------------------------------------------
# Stored with the models

def test_stored_in_checkpoint_metadata(tmp_path):
    torch.manual_seed(0)
    cal = Calibration('temperature', 'probabilities', temperature=1.7, models=['0' * 64])
    path = tmp_path / 'model.safetensors'
    save_checkpoint(get_model('compactnet', cutout_size=16), path,
                    meta={'calibration': cal.to_dict()})
    meta = load_model(path).meta
    found, where = stored_calibration([meta])
    assert found.temperature == 1.7 and str(path) in where
    # It travels with the weights: recorded for the checkpoint it sits in.
    assert found.models == (meta['sha256'],)


def test_stored_beside_the_checkpoints(tmp_path):
    torch.manual_seed(0)
    paths = [tmp_path / 'a.safetensors', tmp_path / 'b.safetensors']
    shas = [save_checkpoint(get_model('compactnet', cutout_size=16), p) for p in paths]
    metas = [load_model(p).meta for p in paths]
    assert stored_calibration(metas) == (None, None)
    Calibration('temperature', 'probabilities', temperature=1.3,
                models=shas[::-1]).save(tmp_path / 'reversed.calibration.json')
    assert stored_calibration(metas) == (None, None)          # other order, other ensemble
    (tmp_path / 'junk.calibration.json').write_text('[]')     # not a record: ignored
    right = Calibration('temperature', 'probabilities', temperature=1.4, models=shas)
    right.save(tmp_path / 'ensemble.calibration.json')
    found, where = stored_calibration(metas)
    assert found.temperature == 1.4 and where.endswith('ensemble.calibration.json')
    right.save(tmp_path / 'copy.calibration.json')
    with pytest.raises(ValueError, match='several calibration files match'):
        stored_calibration(metas)

"""classify_table's uncertainty columns and calibration: values, provenance, storage, errors."""

import math

import numpy as np
import pytest
import torch
from astropy.table import QTable
from scipy.special import softmax

from astro_clusterclass.calibration import (Calibration, UNCERTAINTY_COLUMNS, fit_calibration,
                                            probabilities_from_table)
from astro_clusterclass.classify import Ensemble, classify_table
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import get_model, save_checkpoint


@pytest.fixture(scope='module')
def field():
    field = make_cluster_field((300, 300), 40, seed=8)
    tbl = QTable(field.candidates)['id', 'x', 'y']
    tbl.add_row({'id': -1, 'x': 700.0, 'y': 20.0})        # off the image: unclassified
    return field, tbl


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp('models')
    paths = [folder / 'a.safetensors', folder / 'b.safetensors']
    shas = [save_checkpoint(get_model('compactnet', cutout_size=16, widths=(8, 16)), p)
            for p in paths]
    return [str(p) for p in paths], shas


def _loop_entropy(row):
    return -sum(p * math.log(p) for p in row if p > 0) / math.log(len(row))


def test_uncertainty_columns_match_an_independent_computation(field, checkpoints):
    field, tbl = field
    paths, _ = checkpoints
    out = classify_table(tbl, field.images, models=paths, precision='fp32', progress=False,
                         return_probabilities=True)
    done = ~out['class_mode'].mask
    assert done.sum() > 30 and not done[-1]
    names = list(UNCERTAINTY_COLUMNS)
    assert out.colnames[-3:] == names
    for name in names:
        assert out[name].description == UNCERTAINTY_COLUMNS[name]
        assert out[name].mask.tolist() == (~done).tolist()
    for i in np.flatnonzero(done):
        members = [np.asarray(out[f'prob_compactnet_{j}'][i], dtype=float) for j in (1, 2)]
        mean = (members[0] + members[1]) / 2
        np.testing.assert_allclose([out[f'prob_{k}'][i] for k in (1, 2, 3, 4)], mean,
                                   atol=1e-7)
        assert out['prob_entropy'][i] == pytest.approx(_loop_entropy(mean), abs=1e-6)
        top = sorted(mean)
        assert out['prob_margin'][i] == pytest.approx(top[-1] - top[-2], abs=1e-6)
        shared = (_loop_entropy(members[0]) + _loop_entropy(members[1])) / 2
        assert out['prob_mutual_info'][i] == pytest.approx(_loop_entropy(mean) - shared,
                                                           abs=1e-6)
    assert out.meta['classification']['calibration'] is None
    assert 'prob_raw_1' not in out.colnames


def test_one_model_has_no_disagreement(field, checkpoints):
    field, tbl = field
    out = classify_table(tbl, field.images, models=checkpoints[0][0], precision='fp32',
                         progress=False)
    done = ~out['class_mode'].mask
    np.testing.assert_array_equal(out['prob_mutual_info'][done], 0.0)
    assert np.all(out['prob_entropy'][done] > 0)


def test_calibration_applied_to_the_mean_probabilities(field, checkpoints, tmp_path):
    field, tbl = field
    paths, shas = checkpoints
    raw = classify_table(tbl, field.images, models=paths, precision='fp32', progress=False)
    cal = Calibration('temperature', 'probabilities', temperature=0.5, models=shas)
    path = cal.save(tmp_path / 'chosen.calibration.json')
    for given in (cal, path):
        out = classify_table(tbl, field.images, models=paths, precision='fp32',
                             progress=False, calibration=given)
        done = ~out['class_mode'].mask
        mean = probabilities_from_table(raw)
        np.testing.assert_allclose(probabilities_from_table(out)[done],
                                   softmax(2.0 * np.log(mean[done]), axis=1), rtol=1e-6)
        for k in (1, 2, 3, 4):
            np.testing.assert_array_equal(out[f'prob_raw_{k}'], raw[f'prob_{k}'])
            assert out[f'prob_{k}'].mask.tolist() == (~done).tolist()
            assert 'calibrated' in out[f'prob_{k}'].description
        # The classes are the models' votes: calibration does not touch them.
        np.testing.assert_array_equal(out['class_mode'], raw['class_mode'])
        # Entropy and margin describe the calibrated probabilities; the
        # disagreement stays that of the members.
        assert np.all(out['prob_entropy'][done] <= raw['prob_entropy'][done] + 1e-12)
        np.testing.assert_allclose(out['prob_mutual_info'], raw['prob_mutual_info'])
        meta = out.meta['classification']['calibration']
        assert meta['temperature'] == 0.5 and meta['models'] == shas
        assert meta['source'] == ('given' if given is cal else str(path))
        assert 'prob_raw_1' in meta['applied_to']


def test_stored_calibration_is_found(field, checkpoints, tmp_path):
    field, tbl = field
    paths, shas = checkpoints
    with pytest.raises(ValueError, match="calibration='stored': no calibration is stored"):
        classify_table(tbl, field.images, models=paths, progress=False, calibration='stored')
    beside = str(paths[0]).replace('a.safetensors', 'ensemble.calibration.json')
    Calibration('temperature', 'probabilities', temperature=1.5, models=shas).save(beside)
    out = classify_table(tbl, field.images, models=paths, progress=False,
                         calibration='stored')
    assert out.meta['classification']['calibration']['source'] == beside
    # One model carrying its calibration in the checkpoint metadata.
    torch.manual_seed(4)
    own = tmp_path / 'own.safetensors'
    cal = Calibration('temperature', 'probabilities', temperature=2.0)
    save_checkpoint(get_model('compactnet', cutout_size=16, widths=(8, 16)), own,
                    meta={'calibration': cal.to_dict()})
    out = classify_table(tbl, field.images, models=str(own), progress=False,
                         calibration='stored')
    meta = out.meta['classification']['calibration']
    assert meta['temperature'] == 2.0 and 'checkpoint metadata' in meta['source']


def test_calibration_refusals(field, checkpoints):
    field, tbl = field
    paths, shas = checkpoints
    other = Calibration('temperature', 'probabilities', temperature=1.5, models=shas[::-1])
    with pytest.raises(ValueError, match='was fitted for the models'):
        classify_table(tbl, field.images, models=paths, progress=False, calibration=other)
    with pytest.raises(TypeError, match="calibration must be None, 'stored'"):
        classify_table(tbl, field.images, models=paths, progress=False, calibration=1.5)
    two = Calibration('temperature', 'probabilities', temperature=1.5, categories=(0, 1))
    with pytest.raises(ValueError, match=r'for the classes \[0, 1\]'):
        classify_table(tbl, field.images, models=paths, progress=False, calibration=two)
    clash = QTable(tbl)
    clash['prob_raw_2'] = 0.0
    classify_table(clash, field.images, models=paths, progress=False)   # no clash uncalibrated
    with pytest.raises(ValueError, match=r"already has the columns \['prob_raw_2'\]"):
        classify_table(clash, field.images, models=paths, progress=False,
                       calibration=other.for_models(shas))
    clash = QTable(tbl)
    clash['prob_margin'] = 0.0
    with pytest.raises(ValueError, match=r"already has the columns \['prob_margin'\]"):
        classify_table(clash, field.images, models=paths, progress=False)


def test_result_columns():
    ensemble = Ensemble(get_model('compactnet', cutout_size=16), precision='fp32')
    plain = ensemble.result_columns()
    calibrated = ensemble.result_columns(calibrated=True)
    assert plain[-3:] == list(UNCERTAINTY_COLUMNS)
    assert set(calibrated) - set(plain) == {f'prob_raw_{k}' for k in (1, 2, 3, 4)}


def test_bundled_model_fitted_on_one_field_measured_on_another():
    """The whole path users run: classify, fit on labelled candidates, apply elsewhere."""
    fit_field = make_cluster_field((500, 500), 100, seed=31)
    use_field = make_cluster_field((500, 500), 100, seed=32)
    labelled = classify_table(fit_field.labelled_candidates(), fit_field.images,
                              precision='fp32', progress=False)
    cal = fit_calibration(labelled, description='simulated field seed 31')
    assert cal.models == (labelled.meta['classification']['models'][0]['sha256'],)
    assert cal.fit['data']['n_used'] == int((~labelled['class_mode'].mask).sum())
    tbl = use_field.labelled_candidates()
    raw = classify_table(tbl, use_field.images, precision='fp32', progress=False)
    out = classify_table(tbl, use_field.images, precision='fp32', progress=False,
                         calibration=cal)
    done = ~out['class_mode'].mask
    calibrated = probabilities_from_table(out)[done]
    mean = probabilities_from_table(raw)[done]
    np.testing.assert_allclose(calibrated, cal.apply(mean), rtol=1e-9)
    # Temperature scaling keeps the most probable class of every candidate.
    np.testing.assert_array_equal(np.argmax(calibrated, 1), np.argmax(mean, 1))
    assert out.meta['classification']['calibration']['fit']['data']['description'] == \
        'simulated field seed 31'

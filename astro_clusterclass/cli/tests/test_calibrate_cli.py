"""Tests of ``clusterclass calibrate`` and ``clusterclass classify --calibration``."""

import numpy as np
import pytest
from astropy.table import QTable

from astro_clusterclass.calibration import fit_calibration, read_calibration
from astro_clusterclass.cli import main
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import default_weights


@pytest.fixture(scope='module')
def classified(tmp_path_factory):
    """A labelled simulated field, its image files, the bundled model's uncalibrated output."""
    work = tmp_path_factory.mktemp('calibrate')
    field = make_cluster_field((384, 384), 80, seed=4)
    paths = field.write(work / 'field')
    images = [str(paths[band]) for band in field.images.bands]
    catalog = work / 'labelled.ecsv'
    field.labelled_candidates().write(catalog)
    # A model whose probabilities carry information on the classes (a random one's
    # cannot be calibrated), named as a user would.
    model = str(default_weights())
    raw = work / 'raw.ecsv'
    assert main(['classify', str(catalog), *images, '-o', str(raw), '-m', model,
                 '--no-progress', '--precision', 'fp32']) == 0
    return work, images, str(catalog), model, str(raw)


def test_calibrate_then_classify_with_the_file(classified, capsys):
    work, images, catalog, model, raw = classified
    cal_path = work / 'model.calibration.json'
    assert main(['calibrate', raw, '-o', str(cal_path), '--method', 'vector']) == 0
    assert f'wrote {cal_path}' in capsys.readouterr().out
    cal = read_calibration(cal_path)
    # The same fit as the library's on the same table.
    direct = fit_calibration(QTable.read(raw), method='vector')
    np.testing.assert_allclose(cal.scale, direct.scale, rtol=1e-6)

    out = work / 'calibrated.ecsv'
    assert main(['classify', catalog, *images, '-o', str(out), '-m', model, '--no-progress',
                 '--precision', 'fp32', '--calibration', str(cal_path)]) == 0
    tbl, before = QTable.read(out), QTable.read(raw)
    prob = np.stack([before[f'prob_{k}'].filled(np.nan) for k in (1, 2, 3, 4)], axis=1)
    ok = np.isfinite(prob).all(axis=1)
    expected = cal.apply(prob[ok])
    got = np.stack([tbl[f'prob_{k}'].filled(np.nan) for k in (1, 2, 3, 4)], axis=1)[ok]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    for k in (1, 2, 3, 4):
        np.testing.assert_allclose(tbl[f'prob_raw_{k}'].filled(0), before[f'prob_{k}'].filled(0),
                                   atol=1e-7)
    assert tbl.meta['classification']['calibration']['method'] == 'vector'


def test_calibration_errors_name_the_flags(classified, capsys, tmp_path):
    work, images, catalog, model, raw = classified
    common = [catalog, *images, '-m', model, '--no-progress']
    assert main(['classify', *common, '-o', str(tmp_path / 'a.ecsv'),
                 '--calibration', str(tmp_path / 'missing.json')]) == 1
    assert '--calibration: calibration file' in capsys.readouterr().err
    assert main(['classify', *common, '-o', str(tmp_path / 'b.ecsv'),
                 '--calibration', 'stored']) == 1
    assert "--calibration='stored': no calibration is stored" in capsys.readouterr().err
    # A calibration of other models is refused, naming the flag.
    other = tmp_path / 'other.json'
    fit_calibration(QTable.read(raw)).for_models(('0' * 64,)).save(other)
    assert main(['classify', *common, '-o', str(tmp_path / 'c.ecsv'),
                 '--calibration', str(other)]) == 1
    assert '--calibration was fitted for the models' in capsys.readouterr().err
    assert not any(tmp_path.glob('*.ecsv'))
    # calibrate: the label column and the unknown labels.
    assert main(['calibrate', raw, '-o', str(tmp_path / 'x.json'),
                 '--label-column', 'nope']) == 1
    assert "--label-column 'nope' is not a column" in capsys.readouterr().err
    zeros = QTable.read(raw)
    zeros['class'][:5] = 0                        # LEGUS "not inspected"
    zeros.write(tmp_path / 'zeros.ecsv')
    assert main(['calibrate', str(tmp_path / 'zeros.ecsv'), '-o',
                 str(tmp_path / 'y.json')]) == 1
    assert 'pass --drop-unknown-labels' in capsys.readouterr().err
    assert main(['calibrate', str(tmp_path / 'zeros.ecsv'), '-o', str(tmp_path / 'y.json'),
                 '--drop-unknown-labels']) == 0
    assert read_calibration(tmp_path / 'y.json').fit['data']['n_unlabelled'] >= 5


def test_a_review_export_calibrates_on_its_consensus(classified, tmp_path, capsys):
    work, images, catalog, model, raw = classified
    tbl = QTable.read(raw)
    tbl['class_human'] = tbl['class']
    tbl['class'] = 4                                   # not what a review export learns
    tbl.meta['review'] = {'label_column': 'class_human'}
    path = tmp_path / 'labelled.ecsv'
    tbl.write(path)
    assert main(['calibrate', str(path), '-o', str(tmp_path / 'h.json')]) == 0
    cal = read_calibration(tmp_path / 'h.json')
    assert cal.fit['data']['label_column'] == 'class_human'
    expected = fit_calibration(QTable.read(raw))
    assert cal.temperature == pytest.approx(expected.temperature, rel=1e-6)

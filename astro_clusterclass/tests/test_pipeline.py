"""Tests of the end-to-end job (run_pipeline and ``clusterclass run``)."""

import json
import os

import numpy as np
import pytest
from astropy.table import QTable
from regions import Regions

from astro_clusterclass.bands import BANDS
from astro_clusterclass.cli import main
from astro_clusterclass.pipeline import run_pipeline
from astro_clusterclass.training import evaluate_classes


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    return out, run_pipeline(out, shape=(400, 400), n_candidates=80, seed=4, progress=False,
                             precision='fp32')


def test_simulated_run_writes_every_product(demo):
    out, result = demo
    expected = {'classified.fits', 'classified.ecsv', 'regions.reg', 'summary.txt',
                'color_color.png', 'confusion_matrix.png', 'gallery.png'}
    assert expected <= set(os.listdir(out))
    assert {f'field_{b.lower()}.fits' for b in BANDS} <= set(os.listdir(out / 'images'))
    tbl = QTable.read(out / 'classified.ecsv')
    assert len(tbl) == 80  # every candidate comes back
    truth = QTable.read(out / 'images' / 'field_truth.ecsv')
    by_id = dict(zip(truth['id'], truth['class']))
    assert [by_id[i] for i in tbl['truth_id']] == tbl['true_class'].tolist()
    # The summary's scores are those of an independent evaluation of the file.
    ev = evaluate_classes(tbl['true_class'], tbl['class_mode'].filled(0))
    assert result.evaluation.accuracy == pytest.approx(ev.accuracy)
    assert f'accuracy {ev.accuracy:.3f}' in result.summary
    counts = np.bincount(tbl['class_mode'].filled(0), minlength=5)
    for k in (1, 2, 3, 4):
        assert f' {counts[k]:6d}\n' in result.summary.split('agreement')[0]
    # The FITS copy keeps the full metadata as JSON.
    meta = json.loads(QTable.read(out / 'classified.fits').meta['CCMETA'])
    assert meta['classification']['models'][0]['weights'] == 'CompactNet_Weights.SIM_V1'
    # Regions: one per row, coloured by class_mode.
    regions = Regions.read(out / 'regions.reg', format='ds9')
    assert len(regions) == 80
    colours = {1: 'red', 2: 'green', 3: 'blue', 4: 'yellow'}
    for reg, k in zip(regions, tbl['class_mode'].filled(0)):
        # regions >= 0.8 reads DS9 'color' into edgecolor.
        assert reg.visual.get('edgecolor', reg.visual.get('color')) == colours.get(int(k), 'white')
    assert {'phot_mag_F555W', 'phot_ci'} <= set(tbl.colnames)


def test_own_field_and_errors(demo, tmp_path):
    out, _ = demo
    images = [str(out / 'images' / f'field_{b.lower()}.fits') for b in BANDS]
    catalog = QTable.read(out / 'images' / 'field_candidates.ecsv')
    result = run_pipeline(tmp_path / 'own', images=images, catalog=catalog, progress=False,
                          plots=False, precision='fp32')
    assert result.evaluation is None and len(result.table) == len(catalog)
    assert 'agreement with the truth' not in result.summary
    with pytest.raises(ValueError, match='give both images and catalog'):
        run_pipeline(tmp_path / 'x', images=images)
    with pytest.raises(FileExistsError, match="already holds.*overwrite"):
        run_pipeline(tmp_path / 'own', images=images, catalog=catalog, progress=False)
    with pytest.raises(ValueError, match="truth_column: 'nope' is not a column"):
        run_pipeline(tmp_path / 'y', images=images, catalog=catalog, truth_column='nope')


def test_run_command(tmp_path, capsys):
    status = main(['run', '-o', str(tmp_path / 'r'), '--shape', '300', '300',
                   '--n-candidates', '40', '--no-plots', '--precision', 'fp32'])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert 'candidates per class' in captured.out
    assert f'ds9 {tmp_path / "r" / "images" / "field_f555w.fits"} -regions load' in captured.out
    assert '40/40' not in captured.err  # no progress bar: stderr is not a terminal
    assert main(['run', '-o', str(tmp_path / 'r'), '--catalog', 'x.ecsv']) == 1
    assert 'give both --catalog and --images' in capsys.readouterr().err

"""Tests of ``clusterclass classify``."""

import json
import numpy as np
import torch
from astropy.table import QTable

from astro_clusterclass.cli import main
from astro_clusterclass.models import get_model, save_checkpoint


def _inputs(tmp_path, small_field_files):
    catalog = tmp_path / 'cat.ecsv'
    QTable({'id': [1, 2, 3], 'x': [60.0, 150.3, 1.0], 'y': [50.0, 120.7, 1.0]}).write(catalog)
    torch.manual_seed(0)
    model = tmp_path / 'model.safetensors'
    digest = save_checkpoint(get_model('compactnet', cutout_size=16, widths=(8, 16)), model)
    return str(catalog), str(model), digest


def test_classify_command_writes_fits(tmp_path, small_field_files, capsys):
    catalog, model, digest = _inputs(tmp_path, small_field_files)
    out = tmp_path / 'out.fits'
    status = main(['classify', catalog, *small_field_files, '-o', str(out), '--models', model,
                   model, '--probabilities'])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert 'classified 2 of 3 candidates with 2 model(s)' in captured.out
    assert '3/3' in captured.err                      # the progress bar
    tbl = QTable.read(out)
    assert tbl['id'].tolist() == [1, 2, 3]
    assert tbl['class_compactnet_1'].tolist() == tbl['class_compactnet_2'].tolist()
    assert np.ma.is_masked(tbl['class_mode'][2]) and tbl['class_flag'][2] != 0
    assert tbl['prob_compactnet_1'].shape == (3, 4)
    meta = json.loads(tbl.meta['CCMETA'])['classification']  # nested provenance survives FITS
    assert meta['models'][0]['sha256'] == digest
    assert meta['function'] == 'classify_table'
    # Refuses to overwrite without --overwrite.
    assert main(['classify', catalog, *small_field_files, '-o', str(out), '--models',
                 model, '--no-progress']) == 1
    assert 'pass --overwrite' in capsys.readouterr().err


def test_classify_command_errors(tmp_path, small_field_files, capsys):
    catalog, model, _ = _inputs(tmp_path, small_field_files)
    status = main(['classify', catalog, *small_field_files, '-o', str(tmp_path / 'o.ecsv'),
                   '--models', 'nonsense_model', '--no-progress'])
    assert status == 1
    assert "unknown model 'nonsense_model'" in capsys.readouterr().err

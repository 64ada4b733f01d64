"""Tests of ``clusterclass classify``."""

import json
import sys

import numpy as np
import pytest
import torch
from astropy.table import QTable
from astropy.utils.exceptions import AstropyUserWarning

from astro_clusterclass.bands import BANDS
from astro_clusterclass.cli import main
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import get_model, save_checkpoint


def _inputs(tmp_path, small_field_files):
    catalog = tmp_path / 'cat.ecsv'
    QTable({'id': [1, 2, 3], 'x': [60.0, 150.3, 1.0], 'y': [50.0, 120.7, 1.0]}).write(catalog)
    torch.manual_seed(0)
    model = tmp_path / 'model.safetensors'
    digest = save_checkpoint(get_model('compactnet', cutout_size=16, widths=(8, 16)), model)
    return str(catalog), str(model), digest


def test_classify_command_writes_fits(tmp_path, small_field_files, capsys, monkeypatch):
    catalog, model, digest = _inputs(tmp_path, small_field_files)
    out = tmp_path / 'out.fits'
    monkeypatch.setattr(sys.stderr, 'isatty', lambda: True)  # bars are drawn on terminals
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


# Positions: the catalogue of a simulated field whose images carry a WCS.


@pytest.fixture(scope='module')
def field_files(tmp_path_factory):
    work = tmp_path_factory.mktemp('field')
    field = make_cluster_field((300, 300), 60, seed=1)
    paths = field.write(work)
    torch.manual_seed(0)
    model = work / 'model.safetensors'
    save_checkpoint(get_model('compactnet', cutout_size=16, widths=(8, 16)), model)
    candidates = QTable.read(paths['candidates'])
    return {'images': [paths[b] for b in BANDS], 'model': str(model), 'work': work,
            'candidates': candidates}


def _classify(files, catalog, out, *extra):
    return main(['classify', str(catalog), *files['images'], '-o', str(out), '--models',
                 files['model'], '--no-progress', '--precision', 'fp32', *extra])


def test_shifted_pixels_are_refused_and_plain_radec_classify_alike(
        field_files, tmp_path, capsys):
    cands = field_files['candidates']
    assert {'x', 'y', 'coord'} <= set(cands.colnames)
    original = tmp_path / 'original.ecsv'
    cands.write(original)
    assert _classify(field_files, original, tmp_path / 'a.ecsv') == 0, capsys.readouterr().err
    reference = QTable.read(tmp_path / 'a.ecsv')
    # x/y of another mosaic (shifted by 400 px) next to the right RA/Dec: refused.
    shifted = cands.copy()
    shifted['x'] += 400
    path = tmp_path / 'shifted.ecsv'
    shifted.write(path)
    assert _classify(field_files, path, tmp_path / 'b.ecsv') == 1
    err = capsys.readouterr().err
    assert 'pixel columns x/y and sky column coord disagree' in err
    assert 'dx=+400.0, dy=+0.0' in err and 'another mosaic' in err
    assert '--positions sky' in err and '--positions pixel' in err
    assert not (tmp_path / 'b.ecsv').exists()
    # Choosing the sky positions classifies like the original.
    assert _classify(field_files, path, tmp_path / 'b.ecsv', '--positions', 'sky') == 0
    by_sky = QTable.read(tmp_path / 'b.ecsv')
    assert by_sky['class_mode'].tolist() == reference['class_mode'].tolist()
    # Only float RA/DEC columns (the usual form): the same classes, rows in order.
    radec = QTable({'ID': cands['id'], 'RA': cands['coord'].ra.deg,
                    'DEC': cands['coord'].dec.deg})
    path = tmp_path / 'radec.fits'
    radec.write(path)
    assert _classify(field_files, path, tmp_path / 'c.ecsv') == 0
    out = QTable.read(tmp_path / 'c.ecsv')
    assert out['ID'].tolist() == cands['id'].tolist()
    assert out['class_mode'].tolist() == reference['class_mode'].tolist()
    assert out['class_flag'].tolist() == reference['class_flag'].tolist()
    assert out.meta['positions']['original_names'] == {'coord': 'RA, DEC'}


def test_one_based_columns_need_their_origin(field_files, tmp_path, capsys):
    cands = field_files['candidates']
    ds9 = QTable({'id': cands['id'], 'X': cands['x'] + 1, 'Y': cands['y'] + 1,
                  'coord': cands['coord']})
    path = tmp_path / 'ds9.ecsv'
    ds9.write(path)
    # Named without their origin: caught through the WCS.
    assert _classify(field_files, path, tmp_path / 'a.ecsv', '--x-column', 'X',
                     '--y-column', 'Y') == 1
    err = capsys.readouterr().err
    assert 'look 1-based' in err and '--pixel-origin 1' in err
    assert _classify(field_files, path, tmp_path / 'a.ecsv', '--x-column', 'X',
                     '--y-column', 'Y', '--pixel-origin', '1') == 0
    out = QTable.read(tmp_path / 'a.ecsv')
    np.testing.assert_allclose(out['x'], cands['x'])
    assert 'X' not in out.colnames and out.meta['positions']['original_names']['x'] == 'X'


def test_catalog_of_another_mosaic_is_an_error(field_files, tmp_path, capsys):
    cands = field_files['candidates']
    elsewhere = QTable({'id': cands['id'], 'x': cands['x'] + 2000.0, 'y': cands['y']})
    path = tmp_path / 'elsewhere.ecsv'
    elsewhere.write(path)
    assert _classify(field_files, path, tmp_path / 'o.ecsv') == 1
    err = capsys.readouterr().err
    assert 'none of the 60 candidates falls on the images (300 x 300 px)' in err
    assert 'another mosaic' in err and '--x-column' in err
    assert not (tmp_path / 'o.ecsv').exists()
    # Almost all off: classified, with a warning.
    mostly = QTable({'id': cands['id'], 'x': cands['x'].copy(), 'y': cands['y']})
    mostly['x'][3:] += 2000.0
    path = tmp_path / 'mostly.ecsv'
    mostly.write(path)
    with pytest.warns(AstropyUserWarning, match=r'57 of the 60 candidates \(95 %\) fall off') \
            as record:
        assert _classify(field_files, path, tmp_path / 'o.ecsv') == 0
    assert len(record) == 1 and '--positions sky' in str(record[0].message)  # said once


def test_pixel_columns_in_degrees_are_refused(field_files, tmp_path, capsys):
    cands = field_files['candidates']
    wrong = QTable({'id': cands['id'], 'x': cands['coord'].ra, 'y': cands['coord'].dec})
    path = tmp_path / 'deg.ecsv'
    wrong.write(path)
    assert _classify(field_files, path, tmp_path / 'o.ecsv') == 1
    err = capsys.readouterr().err
    assert "column 'x' holds angles (deg), not pixel positions" in err
    assert '--ra-column NAME --dec-column NAME' in err


def test_no_positions_names_the_flags(field_files, tmp_path, capsys):
    path = tmp_path / 'none.ecsv'
    QTable({'id': [1, 2], 'flux': [1.0, 2.0]}).write(path)
    assert _classify(field_files, path, tmp_path / 'o.ecsv') == 1
    err = capsys.readouterr().err
    assert 'table has no position columns' in err
    assert '--x-column NAME --y-column NAME' in err and '--ra-column NAME' in err
    assert _classify(field_files, path, tmp_path / 'o.ecsv', '--x-column', 'xx',
                     '--y-column', 'flux') == 1
    assert "--x-column xx: 'xx' is not a column" in capsys.readouterr().err
    assert _classify(field_files, path, tmp_path / 'o.ecsv', '--x-column', 'id') == 1
    assert '--x-column id needs --y-column NAME as well' in capsys.readouterr().err


def test_int8_refusal_names_the_flag(tmp_path, small_field_files, capsys):
    # Random weights make near-uniform probabilities: int8 would change classes, and the
    # refusal says so on the command line in terms of the flag.
    pytest.importorskip('torch.ao.quantization')
    catalog, model, _ = _inputs(tmp_path, small_field_files)
    out = tmp_path / 'int8.ecsv'
    status = main(['classify', catalog, *small_field_files, '-o', str(out), '--models', model,
                   '--precision', 'int8', '--no-progress'])
    err = capsys.readouterr().err
    assert status == 1 and not out.exists()
    assert 'error: --precision int8' in err and 'fp32' in err, err

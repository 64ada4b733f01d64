"""``clusterclass compare`` writes tables and plots."""

import numpy as np
from astropy.table import QTable

from astro_clusterclass.cli import main
from astro_clusterclass.conftest import legus_file, shared_data_path


def _write_pair(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    x, y = rng.uniform(0, 400, n), rng.uniform(0, 400, n)
    v = rng.uniform(20, 24, n)
    a = QTable({'x': x, 'y': y, 'mag_F555W': v, 'class': rng.integers(0, 5, n)})
    keep = rng.uniform(size=n) < 0.8
    b = QTable({'x': x[keep] + rng.normal(0, 0.5, keep.sum()), 'y': y[keep],
                'klass': np.where(rng.uniform(size=keep.sum()) < 0.7, a['class'][keep],
                                  rng.integers(1, 5, keep.sum()))})
    pa, pb = tmp_path / 'a.ecsv', tmp_path / 'b.ecsv'
    a.write(pa)
    b.write(pb)
    return pa, pb


def test_compare_two_catalogs(tmp_path, capsys):
    pa, pb = _write_pair(tmp_path)
    out = tmp_path / 'report'
    assert main(['compare', str(pa), str(pb), '-o', str(out), '--column-b', 'klass']) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ['agreement.ecsv', 'agreement_vs_mag_F555W.ecsv',
                     'agreement_vs_mag_F555W.png', 'confusion.png', 'confusion_counts.ecsv',
                     'confusion_mean.ecsv', 'confusion_truth_a.ecsv', 'confusion_truth_b.ecsv',
                     'matches.ecsv']
    agreement = QTable.read(out / 'agreement.ecsv')
    matches = QTable.read(out / 'matches.ecsv')
    assert agreement.meta['n_used'] == np.sum((matches['class_a'] > 0) & (matches['klass_b'] > 0))
    assert (out / 'confusion.png').read_bytes()[:4] == b'\x89PNG'
    assert 'objects compared' in capsys.readouterr().out
    # Existing files are not replaced without --overwrite.
    assert main(['compare', str(pa), str(pb), '-o', str(out), '--column-b', 'klass']) == 1
    err = capsys.readouterr().err
    assert 'matches.ecsv' in err and 'exists; pass overwrite=True' in err
    assert main(['compare', str(pa), str(pb), '-o', str(out), '--column-b', 'klass',
                 '--overwrite']) == 0


def test_compare_reports_bad_columns(tmp_path, capsys):
    pa, pb = _write_pair(tmp_path)
    assert main(['compare', str(pa), str(pb), '-o', str(tmp_path / 'r')]) == 1
    assert "--column-b='class' is not a column of catalogue B" in capsys.readouterr().err
    assert main(['compare', str(pa), str(pa), '-o', str(tmp_path / 'r')]) == 1
    assert 'give different --column-a and --column-b' in capsys.readouterr().err


def test_compare_checks_arguments_before_writing(tmp_path, capsys):
    pa, pb = _write_pair(tmp_path)
    out = tmp_path / 'r'
    assert main(['compare', str(pa), str(pb), '-o', str(out), '--column-b', 'klass',
                 '--property', 'nothere']) == 1
    assert "--property 'nothere' is not a column of catalogue A" in capsys.readouterr().err
    assert main(['compare', str(pa), str(pb), '-o', str(out), '--column-b', 'klass',
                 '--name-a', 'Q', '--name-b', 'Q']) == 1
    assert "--name-a and --name-b must differ, both are 'Q'" in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_compare_two_columns_of_ngc1566(tmp_path):
    path = legus_file('ngc1566')
    track = shared_data_path('bc03_phangs', 'bc03_solar_hst_vega_colours.csv')
    out = tmp_path / 'ngc1566'
    assert main(['compare', str(path), str(path), '--column-a', 'class_human',
                 '--column-b', 'class_ml', '-o', str(out), '--distance', '17.7',
                 '--track', str(track)]) == 0
    boxes = QTable.read(out / 'color_boxes.ecsv')
    assert boxes.colnames == ['class', 'box', 'class_human', 'class_ml', 'qr']
    assert (out / 'color_color_class_human.png').exists()
    assert not (out / 'matches.ecsv').exists()  # one catalogue: nothing to match

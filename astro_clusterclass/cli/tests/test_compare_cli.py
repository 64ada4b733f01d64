"""``clusterclass compare`` writes tables and plots."""

import re

import numpy as np
from astropy import units as u
from astropy.table import QTable

from astro_clusterclass.cli import main
from astro_clusterclass.compare import agreement_fractions, crossmatch
from astro_clusterclass.conftest import legus_file, shared_data_path
from astro_clusterclass.tables import standardize_positions


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
    assert 'exists and is not empty; pass --overwrite' in err
    assert main(['compare', str(pa), str(pb), '-o', str(out), '--column-b', 'klass',
                 '--overwrite']) == 0


def test_compare_reports_bad_columns(tmp_path, capsys):
    pa, pb = _write_pair(tmp_path)
    assert main(['compare', str(pa), str(pb), '-o', str(tmp_path / 'r')]) == 1
    assert "--class-column-b='class' is not a column of catalogue B" in capsys.readouterr().err
    assert main(['compare', str(pa), str(pa), '-o', str(tmp_path / 'r')]) == 1
    assert 'give different --class-column-a and --class-column-b' in capsys.readouterr().err


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


def _starcnet_predictions(legus, path, *, other_rows=True):
    """A StarcNet predictions.csv of the LEGUS NGC 1566 candidates (X/Y truncated 1-based)."""
    rng = np.random.default_rng(5)
    pred = np.where(legus['class_ml'] > 0, legus['class_ml'], rng.integers(1, 5, len(legus)))
    lines = ['Galaxy,Id,X,Y,Prediction']
    lines += [f'ngc1566,{i},{int(x)},{int(y)},{p}'
              for i, x, y, p in zip(legus['id'], legus['x'] + 1, legus['y'] + 1, pred)]
    if other_rows:  # predictions.csv holds every galaxy StarcNet was run on
        lines += ['ngc3344,1,2422,921,4', 'ngc3344,2,4736,6402,4']
    path.write_text('\n'.join(lines) + '\n')
    return pred


def test_starcnet_predictions_against_the_legus_humans(tmp_path, capsys):
    path = legus_file('ngc1566')
    legus = QTable.read(path, format='legus', class_column=36)  # three-human mode
    legus['class_ml'] = QTable.read(path, format='legus')['class_ml']
    pred = _starcnet_predictions(legus, tmp_path / 'predictions.csv')
    out = tmp_path / 'report'
    # As typed in the issue.
    status = main(['compare', str(path), str(tmp_path / 'predictions.csv'),
                   '--class-column-a', '36', '-o', str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert 'B: the 2752 rows of galaxy ngc1566 (of 2754)' in captured.out
    assert 'matching A and B by pixel position within 2 px' in captured.out
    matches = QTable.read(out / 'matches.ecsv')
    # Every candidate pairs with itself (the truncated positions are within 0.5 px).
    assert len(matches) == 2752
    assert (matches['id_a'] == matches['id_b']).all()
    assert np.all(matches['separation'].to_value(u.pix) <= np.hypot(0.5, 0.5))
    # The agreement is that of the LEGUS humans with the predictions, computed directly.
    expected = agreement_fractions(QTable({'a': legus['class'], 'b': pred}), 'a', 'b')
    agreement = QTable.read(out / 'agreement.ecsv')
    np.testing.assert_allclose(np.ma.filled(agreement['fraction'], np.nan),
                               np.ma.filled(expected['fraction'], np.nan))
    assert agreement.meta['n_used'] == expected.meta['n_used'] == np.sum(legus['class'] > 0)
    # Matching by the shared LEGUS id gives the same pairs.
    assert main(['compare', str(path), str(tmp_path / 'predictions.csv'),
                 '--class-column-a', '36', '-o', str(tmp_path / 'by_id'), '--match', 'id']) == 0
    by_id = QTable.read(tmp_path / 'by_id' / 'matches.ecsv')
    assert by_id['index_a'].tolist() == matches['index_a'].tolist()
    assert by_id['index_b'].tolist() == matches['index_b'].tolist()


def test_several_galaxies_need_a_choice(tmp_path, capsys):
    preds = tmp_path / 'predictions.csv'
    preds.write_text('Galaxy,Id,X,Y,Prediction\nngc3344,1,10,10,1\nngc3344,2,30,30,2\n'
                     'ngc1566,1,10,10,3\n')
    other = tmp_path / 'other.ecsv'
    QTable({'x': [9.5, 29.5], 'y': [9.5, 29.5], 'class': [1, 2]}).write(other)
    assert main(['compare', str(other), str(preds), '-o', str(tmp_path / 'r')]) == 1
    err = capsys.readouterr().err
    assert "holds rows of several galaxies ['ngc1566', 'ngc3344']" in err
    assert '--galaxy-b' in err
    assert main(['compare', str(other), str(preds), '-o', str(tmp_path / 'r'),
                 '--galaxy-b', 'ngc3344', '--n-bins', '1']) == 0


def test_two_mosaics_are_matched_on_the_sky(tmp_path, capsys):
    c, e = legus_file('ngc628-c'), legus_file('ngc628-e')
    out = tmp_path / 'report'
    assert main(['compare', str(c), str(e), '-o', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'on the sky within 0.079' in printed
    assert 'A is on the pixel grid of LEGUS ngc628-c, B on that of LEGUS ngc628-e' in printed
    matches = QTable.read(out / 'matches.ecsv')
    # Independently: mutual nearest neighbours on the sky within 2 px of 0.0396".
    tc = QTable.read(c, format='legus')
    te = QTable.read(e, format='legus')
    radius = 2 * 0.0396 * u.arcsec
    i_ce, sep, _ = tc['coord'].match_to_catalog_sky(te['coord'])
    i_ec, _, _ = te['coord'].match_to_catalog_sky(tc['coord'])
    mutual = (i_ec[i_ce] == np.arange(len(tc))) & (sep <= radius * 1.01)
    assert abs(len(matches) - mutual.sum()) <= 2  # the measured scale is within 1 %
    assert len(matches) > 100
    assert np.all(matches['separation'] <= radius * 1.01)
    # Pixel matching across the two grids is refused, before anything is written.
    assert main(['compare', str(c), str(e), '-o', str(tmp_path / 'px'), '--match',
                 'pixel']) == 1
    err = capsys.readouterr().err
    assert '--match pixel: A and B are on different pixel grids' in err
    assert not (tmp_path / 'px').exists()


def test_zero_matches_stop_before_writing(tmp_path, capsys):
    pa, pb = _write_pair(tmp_path)
    far = QTable.read(pb)
    far['x'] += 5000
    far.write(pb, overwrite=True)
    out = tmp_path / 'r'
    assert main(['compare', str(pa), str(pb), '-o', str(out), '--column-b', 'klass']) == 1
    err = capsys.readouterr().err
    assert 'no object of catalog A (300 rows) matched one of catalog B' in err
    assert 'within 2 px (pixel positions, --radius)' in err
    span_a, span_b = re.search(r'A spans pixels x (-?\d+)\.\.\d+.* B spans pixels x (\d+)',
                               err).groups()
    assert int(span_a) < 5 and int(span_b) > 4990
    assert not out.exists()
    # Too few matches for the bins of agreement versus magnitude: said as such.
    few = QTable.read(pb)
    few['x'][:2] -= 5000
    few.write(pb, overwrite=True)
    assert main(['compare', str(pa), str(pb), '-o', str(out), '--column-b', 'klass']) == 1
    err = capsys.readouterr().err
    assert 'have a finite mag_F555W' in err and '(--n-bins)' in err
    assert not out.exists()


def test_one_based_csv_read_back_with_its_origin(tmp_path, capsys):
    path = legus_file('ngc1566')
    legus = QTable.read(path, format='legus')
    csv = tmp_path / 'ngc1566_ds9.csv'
    QTable({'ID': legus['id'], 'X': legus['x'] + 1, 'Y': legus['y'] + 1,
            'klass': legus['class_ml']}).write(csv, format='ascii.csv')
    # The cross-match of the catalogue with itself...
    reference = crossmatch(legus, legus.copy())
    # ...and with its 1-based CSV, read with origin 1: the same pairs, at 0 px.
    back = standardize_positions(QTable.read(csv), x_column='X', y_column='Y', pixel_origin=1)
    m = crossmatch(legus, back)
    assert m['index_a'].tolist() == reference['index_a'].tolist()
    assert m['index_b'].tolist() == reference['index_b'].tolist()
    assert np.max(m['separation'].to_value(u.pix)) < 1e-3
    # From the command line.
    out = tmp_path / 'r'
    assert main(['compare', str(path), str(csv), '-o', str(out), '--column-b', 'klass',
                 '--x-column-b', 'X', '--y-column-b', 'Y', '--pixel-origin-b', '1']) == 0
    cli = QTable.read(out / 'matches.ecsv')
    assert cli['index_b'].tolist() == reference['index_b'].tolist()
    assert np.max(cli['separation'].to_value(u.pix)) < 1e-3
    # Read as 0-based, every position is off by one pixel in x and y.
    wrong = crossmatch(legus, standardize_positions(QTable.read(csv), x_column='X',
                                                    y_column='Y'))
    np.testing.assert_allclose(np.median(wrong['separation'].to_value(u.pix)), np.sqrt(2),
                               rtol=1e-6)


def test_phangs_human_and_machine_catalogues(tmp_path, capsys):
    from astro_clusterclass.io.tests.test_phangs import release_name, release_table

    raw = release_table(n=120, seed=6)
    human = raw.copy()
    machine = raw[::-1]  # the same objects in another order, classified by the VGG models
    ph = tmp_path / release_name(kind='obs-human-cluster-class12')
    pm = tmp_path / release_name(kind='obs-machine-cluster-class12')
    human.write(ph)
    machine.write(pm)
    out = tmp_path / 'report'
    assert main(['compare', str(ph), str(pm), '-o', str(out), '--property', 'ci']) == 0
    assert 'matching A and B by pixel position' in capsys.readouterr().out  # one PHANGS grid
    matches = QTable.read(out / 'matches.ecsv')
    assert len(matches) == 120 and (matches['id_a'] == matches['id_b']).all()
    # Default class columns: each catalogue's own (human for A, VGG for B).
    assert {'class_human_a', 'class_ml_b'} <= set(matches.colnames)
    agreement = QTable.read(out / 'agreement.ecsv')
    expected = agreement_fractions(matches, 'class_human_a', 'class_ml_b')
    np.testing.assert_allclose(np.ma.filled(agreement['fraction'], np.nan),
                               np.ma.filled(expected['fraction'], np.nan))

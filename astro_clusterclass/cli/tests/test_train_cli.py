"""Tests of ``clusterclass train``."""

from astropy.table import QTable

from astro_clusterclass.cli import main
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import load_model


def test_train_command(tmp_path, capsys):
    field = make_cluster_field((300, 300), 60, seed=3, class_fractions={1: 1, 2: 1, 3: 1, 4: 1})
    paths = field.write(tmp_path / 'sim')
    catalog = tmp_path / 'labelled.ecsv'
    field.labelled_candidates().write(catalog)
    images = [paths[b] for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')]
    out = tmp_path / 'model.safetensors'
    status = main(['train', str(catalog), *images, '-o', str(out), '--cutout-size', '16',
                   '--n-batches', '5', '--batch-size', '8', '--no-progress'])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert 'trained compactnet on' in captured.out and 'held-out test split' in captured.out
    model = load_model(out)
    assert model.meta['cutout_size'] == 16 and model.meta['training']['n_batches'] == 5
    assert not (tmp_path / 'model.safetensors.resume.pt').exists()
    # An existing output is not overwritten.
    assert main(['train', str(catalog), *images, '-o', str(out)]) == 1
    assert 'exists; pass --overwrite' in capsys.readouterr().err
    # LEGUS-style 0 labels stop the run unless they are dropped explicitly.
    tbl = QTable.read(catalog)
    tbl['class'][:2] = 0
    tbl.write(catalog, overwrite=True)
    args = ['train', str(catalog), *images, '-o', str(tmp_path / 'm2.safetensors'),
            '--cutout-size', '16', '--n-batches', '2', '--batch-size', '4', '--no-progress']
    assert main(args) == 1
    assert "unknown_labels='drop'" in capsys.readouterr().err
    assert main(args + ['--drop-unknown-labels']) == 0

"""``clusterclass train`` on a table exported from the review label database."""

import numpy as np
from astropy.table import QTable

from astro_clusterclass.cli import main
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import load_model
from astro_clusterclass.review import LabelStore, export_labels

TRAIN = ['--cutout-size', '16', '--n-batches', '3', '--batch-size', '8', '--no-progress']


def test_train_learns_the_reviewers_consensus(tmp_path, capsys):
    field = make_cluster_field((300, 300), 60, seed=3, class_fractions={1: 1, 2: 1, 3: 1, 4: 1})
    paths = field.write(tmp_path / 'sim')
    images = [paths[b] for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')]
    catalog = field.labelled_candidates()           # 'class' is the simulated truth
    catalog.write(tmp_path / 'candidates.ecsv')
    truth = np.asarray(catalog['class'])
    with LabelStore(tmp_path / 'labels.sqlite', catalog=str(tmp_path / 'candidates.ecsv'),
                    images=images) as store:
        # Two reviewers label the first 40 candidates with the truth, except that bob calls
        # the first two class-3 candidates class 2: ties, without a consensus.
        threes = [int(r) for r in np.flatnonzero(truth[:40] == 3)[:2]]
        for row in range(40):
            candidate = int(catalog['id'][row])
            store.add_label(candidate, reviewer='ann', label=int(truth[row]))
            store.add_label(candidate, reviewer='bob', label=2 if row in threes else
                            int(truth[row]))
    export_labels(tmp_path / 'labels.sqlite', output=tmp_path / 'labelled.ecsv')
    labelled = QTable.read(tmp_path / 'labelled.ecsv')
    human = labelled['class_human']
    n_consensus = int((~human.mask).sum())
    assert len(threes) == 2 and len(labelled) == 60 and n_consensus == 38
    assert labelled['review_tie'].tolist() == [r in threes for r in range(60)]
    consensus_counts = {str(k): int(np.sum(human.filled(0) == k)) for k in (1, 2, 3, 4)}
    truth_counts = {str(k): int(np.sum(truth == k)) for k in (1, 2, 3, 4)}
    assert consensus_counts != truth_counts

    out = tmp_path / 'model.safetensors'
    status = main(['train', str(tmp_path / 'labelled.ecsv'), *images, '-o', str(out), *TRAIN])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert (f"review export: learning 'class_human', the reviewers' consensus; "
            f"{60 - n_consensus} of 60 rows have none") in captured.out
    data = load_model(out).meta['training']['data']
    assert data['excluded'] == {'unlabelled': 60 - n_consensus}   # no stamp off the image
    assert data['class_counts'] == consensus_counts               # the consensus was learnt

    # --label-column still chooses: here the simulated truth, all 60 rows.
    out2 = tmp_path / 'truth.safetensors'
    assert main(['train', str(tmp_path / 'labelled.ecsv'), *images, '-o', str(out2),
                 '--label-column', 'class', *TRAIN]) == 0
    captured = capsys.readouterr()
    assert 'review export' not in captured.out
    data = load_model(out2).meta['training']['data']
    assert data['class_counts'] == truth_counts and data['excluded'] == {}

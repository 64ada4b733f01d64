"""Tests of training: data, splits, augmentation, the loop, resume, ensembles, evaluation."""

import json

import numpy as np
import pytest
import torch
import torchvision
from astropy.table import QTable

from astro_clusterclass.classes import CLASSES
from astro_clusterclass.classify import classify_table
from astro_clusterclass.cutouts import make_cutouts
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import _imagenet, get_model, load_model, save_checkpoint
from astro_clusterclass.preprocessing import StampNormalization
from astro_clusterclass.training import (TrainingSet, evaluate, evaluate_classes,
                                         make_training_set, split_train_test,
                                         train_ensemble, train_model)
from astro_clusterclass.training._augment import (augment, batch_seed, draw_batch,
                                                  loss_weights, sampling_weights)

TINY = {'widths': [8, 16]}


def plain_predict(model, stamps, size=None):
    """Classes and probabilities written out plainly: central crop, normalise, forward (fp32)."""
    size = size or model.meta['cutout_size']
    lo = stamps.shape[-1] // 2 - size // 2
    norm = StampNormalization.from_dict(model.meta['normalization'])
    x = norm(np.ascontiguousarray(stamps[:, :, lo:lo + size, lo:lo + size]))
    with torch.no_grad():
        probs = torch.softmax(model.eval()(torch.from_numpy(x)), 1).numpy()
    return np.asarray(model.meta['categories'])[probs.argmax(1)], probs


def toy_stamps(n_per_class=24, side=17, seed=0):
    """Stamps whose class is a Gaussian of class-dependent width (learnable, known)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(CLASSES, n_per_class)
    yy, xx = np.mgrid[:side, :side] - side // 2
    sigma = {1: 1.0, 2: 2.0, 3: 3.5, 4: 0.5}
    stamps = rng.normal(0, 1, size=(len(labels), 5, side, side)).astype(np.float32)
    for i, k in enumerate(labels):
        stamps[i] += 30 * np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma[k] ** 2))
    return stamps, labels


@pytest.fixture(scope='module')
def field():
    return make_cluster_field((400, 400), 80, seed=5, class_fractions={1: 1, 2: 1, 3: 1, 4: 1})


# ----------------------------------------------------------------------------
# Augmentation and batches
# ----------------------------------------------------------------------------

def test_augment_is_the_eight_symmetries_and_keeps_the_centre():
    x = torch.arange(2 * 49, dtype=torch.float32).view(1, 2, 7, 7).repeat(8, 1, 1, 1)
    turns = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    flips = torch.tensor([False] * 4 + [True] * 4)
    out = augment(x, turns, flips)
    expected = [np.rot90(x[0].numpy(), k, axes=(1, 2)) for k in range(4)]
    expected += [e[:, :, ::-1] for e in expected]
    for i in range(8):
        np.testing.assert_array_equal(out[i].numpy(), expected[i])
    assert len({tuple(o.flatten().tolist()) for o in out}) == 8
    assert torch.all(out[:, :, 3, 3] == x[0, :, 3, 3])


def test_batches_depend_on_seed_and_batch_only():
    w = sampling_weights(np.repeat(CLASSES, [50, 20, 10, 5]), 'sampling')
    a = draw_batch(w, 32, seed=7, batch=3)
    b = draw_batch(w, 32, seed=7, batch=3)
    c = draw_batch(w, 32, seed=7, batch=4)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert not torch.equal(a[0], c[0])
    assert batch_seed(7, 3) != batch_seed(8, 3)


def test_balanced_sampling_draws_classes_equally():
    labels = np.repeat(CLASSES, [500, 200, 100, 20])
    w = sampling_weights(labels, 'sampling')
    drawn = np.concatenate([labels[draw_batch(w, 256, 0, b)[0].numpy()] for b in range(40)])
    fractions = np.bincount(drawn, minlength=5)[1:] / len(drawn)
    np.testing.assert_allclose(fractions, 0.25, atol=0.03)
    uniform = np.concatenate([labels[draw_batch(sampling_weights(labels, None), 256, 0,
                                                b)[0].numpy()] for b in range(40)])
    np.testing.assert_allclose(np.bincount(uniform, minlength=5)[1:] / len(uniform),
                               [500 / 820, 200 / 820, 100 / 820, 20 / 820], atol=0.03)
    lw = loss_weights(labels, 'weights')
    np.testing.assert_allclose(lw.numpy(), 820 / (4 * np.array([500, 200, 100, 20])))
    assert loss_weights(labels, 'sampling') is None
    with pytest.raises(ValueError, match='balance must be one of'):
        sampling_weights(labels, 'oversample')


# ----------------------------------------------------------------------------
# Training sets and splits
# ----------------------------------------------------------------------------

def test_training_set_from_a_simulated_field(field):
    tbl = field.labelled_candidates()
    ts = make_training_set(tbl, field.images, size=32, group='f5')
    assert ts.stamps.shape[1:] == (5, 33, 33)
    assert len(ts) + sum(ts.excluded.values()) == len(tbl)
    # The network input (first 32 rows/columns) is exactly the stamp that
    # classify_table cuts at 32 px, for every kept candidate.
    kept = np.isin(tbl['id'], ts.ids)
    direct = make_cutouts(field.images, tbl[kept], size=32).data
    np.testing.assert_array_equal(ts.stamps[:, :, :32, :32], direct)
    np.testing.assert_array_equal(ts.labels, np.asarray(tbl['class'])[kept])
    assert set(ts.groups) == {'f5'}


def test_training_set_label_errors_and_drop(field):
    tbl = field.labelled_candidates()
    tbl['class'][:3] = 0
    with pytest.raises(ValueError, match=r'outside classes \[1, 2, 3, 4\]: \{0: 3\}.*'
                                         r'not inspected.*unknown_labels=.drop'):
        make_training_set(tbl, field.images, size=16)
    ts = make_training_set(tbl, field.images, size=16, unknown_labels='drop')
    assert ts.excluded['unlabelled'] == 3
    with pytest.raises(ValueError, match="label_column: .klass. is not a column"):
        make_training_set(tbl, field.images, size=16, label_column='klass')
    stamps, labels = toy_stamps(4)
    with pytest.raises(ValueError, match='lengths must match'):
        TrainingSet.from_arrays(stamps, labels[:-1])
    with pytest.raises(ValueError, match=r'outside classes.*\{5: 1\}'):
        TrainingSet.from_arrays(stamps, np.r_[labels[:-1], 5])
    with pytest.raises(ValueError, match='too small for size=20'):
        TrainingSet.from_arrays(stamps, labels, size=20)


def test_split_is_stratified_and_refuses_tiny_classes():
    stamps, labels = toy_stamps(10)
    ts = TrainingSet.from_arrays(stamps, labels, groups=np.repeat(['a', 'b'], 20))
    train, test = split_train_test(ts, test_fraction=0.3, seed=1)
    assert ts.class_counts(test) == {1: 3, 2: 3, 3: 3, 4: 3}
    assert not set(train) & set(test) and len(train) + len(test) == len(ts)
    again = split_train_test(ts, test_fraction=0.3, seed=1)
    np.testing.assert_array_equal(test, again[1])
    few = TrainingSet.from_arrays(stamps[:21], labels[:21])  # class 3 has one object
    with pytest.raises(ValueError, match='class 3 has 1 object'):
        split_train_test(few)
    # By group: group 'b' holds classes 3 and 4 only, so it cannot be the test split.
    with pytest.raises(ValueError, match='too few objects of classes'):
        split_train_test(ts, by='group', test_groups=['b'])
    with pytest.raises(ValueError, match=r"test_groups \['c'\] are not groups"):
        split_train_test(ts, by='group', test_groups=['c'])


# ----------------------------------------------------------------------------
# The training loop
# ----------------------------------------------------------------------------

def _train(stamps, labels, **kwargs):
    options = dict(architecture='compactnet', model_config=TINY, n_batches=40, lr=3e-3,
                   progress=False, seed=3)
    options.update(kwargs)
    return train_model(stamps, labels, **options)


def test_training_learns_and_records_metadata(tmp_path):
    stamps, labels = toy_stamps(30)
    result = _train(stamps, labels, n_batches=80, output=tmp_path / 'm.safetensors')
    ev = result.evaluation
    assert ev.n == len(result.test_index) == 24
    assert ev.accuracy >= 0.75  # chance is 0.25
    # The stored metrics are those of an independent prediction of the test split.
    model = load_model(tmp_path / 'm.safetensors', sha256=result.sha256)
    pred, _ = plain_predict(model, stamps[result.test_index], size=17)
    assert np.mean(pred == labels[result.test_index]) == pytest.approx(ev.accuracy)
    meta = model.meta
    assert meta['training']['class_counts_train'] == {'1': 24, '2': 24, '3': 24, '4': 24}
    assert meta['training']['n_batches'] == 80 and meta['training']['batch_size'] == 32
    assert meta['training']['data']['n_objects'] == 120
    assert meta['training']['astro_clusterclass']
    counts = np.array(meta['metrics']['test']['confusion_matrix'])
    assert counts.sum() == 24 and np.trace(counts) == round(ev.accuracy * 24)
    assert list(result.history.colnames) == ['batch', 'loss', 'accuracy', 'lr']
    assert result.history['lr'][-1] < result.history['lr'][0]  # cosine schedule


def test_same_seed_same_weights_other_seed_differs():
    stamps, labels = toy_stamps(8)
    a = _train(stamps, labels, n_batches=6).model.state_dict()
    b = _train(stamps, labels, n_batches=6).model.state_dict()
    c = _train(stamps, labels, n_batches=6, seed=4).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


class _Stop(Exception):
    pass


def test_resumed_run_ends_with_the_same_weights(tmp_path):
    stamps, labels = toy_stamps(8)
    full = _train(stamps, labels, n_batches=20)
    ckpt = tmp_path / 'run.resume.pt'

    def stop_at_13(batch, loss, acc):
        if batch == 12:
            raise _Stop

    with pytest.raises(_Stop):
        _train(stamps, labels, n_batches=20, checkpoint=ckpt, checkpoint_every=5,
               callback=stop_at_13)
    state = torch.load(ckpt, weights_only=True)
    assert state['batch'] == 13  # saved on interruption, after the last complete batch
    resumed = _train(stamps, labels, n_batches=20, checkpoint=ckpt, checkpoint_every=5)
    assert resumed.model.meta['training']['resumed_at_batch'] == 13
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(full.history['loss'], resumed.history['loss'])
    assert not ckpt.exists()  # removed once the run is complete


def test_resume_refuses_other_settings(tmp_path):
    stamps, labels = toy_stamps(8)
    ckpt = tmp_path / 'run.resume.pt'

    def stop(batch, loss, acc):
        raise _Stop

    with pytest.raises(_Stop):
        _train(stamps, labels, n_batches=10, checkpoint=ckpt, callback=stop)
    with pytest.raises(ValueError, match=r'other settings or data \(lr: 0.003 then, 0.001 now'):
        _train(stamps, labels, n_batches=10, checkpoint=ckpt, lr=1e-3)
    # resume=False starts again and overwrites the file.
    _train(stamps, labels, n_batches=10, checkpoint=ckpt, lr=1e-3, resume=False)


def test_bad_options_are_named():
    stamps, labels = toy_stamps(4)
    for kwargs, match in [({'n_batches': 0}, 'n_batches must be a positive integer'),
                          ({'lr': -1}, 'lr must be a positive number'),
                          ({'optimizer': 'lbfgs'}, 'optimizer must be one of'),
                          ({'balance': 'smote'}, 'balance must be one of'),
                          ({'precision': 'fp16'}, "precision='fp16' is not one of"),
                          ({'architecture': 'alexnet'}, "unknown model 'alexnet'")]:
        with pytest.raises(ValueError, match=match):
            _train(stamps, labels, **kwargs)
    with pytest.raises(ValueError, match='labels is required'):
        train_model(stamps, progress=False)
    with pytest.raises(ValueError, match='images is required'):
        train_model(QTable({'x': [1.0], 'y': [1.0], 'class': [1]}), progress=False)


def test_fine_tune_from_checkpoint_and_from_imagenet(tmp_path, monkeypatch):
    stamps, labels = toy_stamps(6, side=33)
    torch.manual_seed(0)
    start = get_model('resnet18', cutout_size=32)
    digest = save_checkpoint(start, tmp_path / 'start.safetensors')
    result = _train(stamps, labels, init=tmp_path / 'start.safetensors', n_batches=2,
                    model_config=None, architecture='resnet18', batch_size=4)
    assert result.model.meta['init'] == f'checkpoint:{digest}'
    with pytest.raises(ValueError, match="is a 'resnet18' model but architecture='vgg19_bn'"):
        _train(stamps, labels, init=tmp_path / 'start.safetensors', model_config=None,
               architecture='vgg19_bn')
    # ImageNet start through torchvision's weights API, from a seeded torch cache.
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    tv = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    path = _imagenet.torch_cache_path(tv)
    (tmp_path / 'torch' / 'hub' / 'checkpoints').mkdir(parents=True)
    imagenet = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(imagenet, path)
    monkeypatch.setattr(_imagenet, '_reachable', lambda *a, **k: pytest.fail('network'))
    result = _train(stamps, labels, init='imagenet', architecture='resnet18', model_config=None,
                    n_batches=1, batch_size=4, lr=1e-12, optimizer='sgd', weight_decay=0)
    assert result.model.meta['init'].startswith('imagenet:')
    # With a vanishing learning rate the backbone is still ImageNet's.
    got = result.model.layer4[1].conv2.weight.detach()
    assert torch.allclose(got, imagenet['layer4.1.conv2.weight'], atol=1e-6)


def test_ensemble_trains_resumes_and_scores(tmp_path):
    stamps, labels = toy_stamps(12)
    ts = TrainingSet.from_arrays(stamps, labels)
    options = dict(output_dir=tmp_path, architectures={'compactnet': 2}, n_batches=20,
                   lr=3e-3, model_config=TINY, progress=False, seed=10, cutout_size=17)
    paths, ev = train_ensemble(ts, **options)
    names = [p.split('/')[-1] for p in paths]
    assert names == ['compactnet_01.safetensors', 'compactnet_02.safetensors']
    seeds = [load_model(p).meta['training']['seed'] for p in paths]
    assert seeds == [10, 11]
    assert {load_model(p).meta['training']['split_seed'] for p in paths} == {10}
    # The ensemble's score is the mode of the members on the shared test split.
    _, test = split_train_test(ts, seed=10)
    preds = np.stack([plain_predict(load_model(p), stamps[test])[0] for p in paths], 1)
    mode = [np.bincount(row, minlength=5).argmax() for row in preds]
    assert ev.accuracy == pytest.approx(np.mean(np.array(mode) == labels[test]))
    # Existing members are not trained again.
    mtimes = [__import__('os').path.getmtime(p) for p in paths]
    train_ensemble(ts, **options)
    assert mtimes == [__import__('os').path.getmtime(p) for p in paths]


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------

def test_evaluate_classes_against_loops():
    rng = np.random.default_rng(3)
    truth = rng.integers(1, 5, 500)
    pred = np.where(rng.random(500) < 0.6, truth, rng.integers(0, 5, 500))  # 0: unclassified
    ev = evaluate_classes(truth, pred)
    for i, k in enumerate(CLASSES):
        recall = np.sum((truth == k) & (pred == k)) / np.sum(truth == k)
        precision = np.sum((truth == k) & (pred == k)) / np.sum((pred == k) & (pred > 0))
        assert ev.per_class['accuracy'][i] == pytest.approx(recall)
        assert ev.per_class['precision'][i] == pytest.approx(precision)
        # The paper's f_k compares objects both classifications put in a class.
        recall_classified = np.sum((truth == k) & (pred == k)) / np.sum((truth == k) & (pred > 0))
        assert ev.per_class['agreement'][i] == pytest.approx((recall_classified + precision) / 2)
        for j, m in enumerate(CLASSES):
            assert ev.confusion[f'class_b_{m}'][i] == np.sum((truth == k) & (pred == m))
    assert ev.accuracy == pytest.approx(np.mean(truth == pred))
    cl = np.isin(truth, (1, 2))
    assert ev.cluster_accuracy == pytest.approx(np.mean(np.isin(pred[cl], (1, 2))))
    assert ev.n_unclassified == np.sum(pred == 0)
    assert json.loads(json.dumps(ev.to_dict()))['n'] == 500
    assert 'class 1+2' in str(ev)
    with pytest.raises(ValueError, match='labels contains labels outside'):
        evaluate_classes([0, 1], [1, 1])


def test_evaluate_runs_classify_table(field):
    tbl = field.labelled_candidates()
    torch.manual_seed(0)
    model = get_model('compactnet', cutout_size=16, widths=(8, 16),
                      normalization=StampNormalization())
    ev, out = evaluate(model, tbl, field.images, progress=False, precision='fp32')
    again = classify_table(tbl, field.images, models=model, progress=False, precision='fp32')
    expected = evaluate_classes(tbl['class'], again['class_mode'].filled(0))
    assert ev.accuracy == expected.accuracy and ev.n == len(tbl)
    assert ev.n_unclassified == int(np.sum(out['class_mode'].mask))


def test_vgg_trains_folded_and_saves_the_standard_layout(tmp_path):
    stamps, labels = toy_stamps(3, side=33)
    result = _train(stamps, labels, architecture='vgg19_bn', model_config=None, n_batches=2,
                    batch_size=4, output=tmp_path / 'vgg.safetensors')
    model = load_model(tmp_path / 'vgg.safetensors')
    assert isinstance(model, torchvision.models.VGG)
    assert model.classifier[0].in_features == 512 * 49  # torchvision's layout
    assert 'folded' in model.meta['training']['trained_as']
    # The unfolded checkpoint computes what was trained: same test predictions.
    pred, _ = plain_predict(model, stamps[result.test_index], size=32)
    assert np.mean(pred == labels[result.test_index]) == result.evaluation.accuracy
    # The first layer was trained (it differs from a fresh model's).
    torch.manual_seed(3)
    fresh = get_model('vgg19_bn', cutout_size=32)
    assert not torch.equal(fresh.classifier[0].weight, model.classifier[0].weight)

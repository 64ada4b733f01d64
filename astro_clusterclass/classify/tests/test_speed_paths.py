"""
The engine's speed paths change no class: members run at once (one thread
each, costliest first), larger ResNet18 batches, against members one at a
time and against the plain fp32 eager models.
"""

import numpy as np
import pytest
import torch

from astro_clusterclass.classify import Ensemble, classify_table
from astro_clusterclass.classify import _ensemble
from astro_clusterclass.cutouts import make_cutouts
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import get_model
from astro_clusterclass.preprocessing import StampNormalization


@pytest.fixture(scope='module')
def setup():
    torch.manual_seed(21)
    models = [get_model(arch, cutout_size=32) for arch in
              ('resnet18', 'vgg19_bn', 'resnet18', 'vgg19_bn')]
    field = make_cluster_field((700, 700), 150, seed=21)
    return models, field


def test_concurrent_members_equal_members_one_at_a_time(setup, monkeypatch):
    models, field = setup
    ensemble = Ensemble(models, precision='fp32', device='cpu')
    order, workers = ensemble._schedule(list(range(4)))
    if torch.get_num_threads() > 1:
        assert workers == min(torch.get_num_threads(), 4)
        assert order[:2] == [1, 3]                        # the VGGs first
    fast = classify_table(field.candidates, field.images, models=ensemble, progress=False,
                          return_probabilities=True)
    ensemble.member_threads = 1
    monkeypatch.setattr(_ensemble, '_MIN_BATCH', {})
    slow = classify_table(field.candidates, field.images, models=ensemble, progress=False,
                          return_probabilities=True)
    assert (~fast['class_mode'].mask).sum() > 100
    for label in ensemble.labels:
        np.testing.assert_allclose(np.ma.filled(fast[f'prob_{label}'], -1),
                                   np.ma.filled(slow[f'prob_{label}'], -1), rtol=1e-5,
                                   atol=1e-7)
        np.testing.assert_array_equal(np.ma.filled(fast[f'class_{label}'], 0),
                                      np.ma.filled(slow[f'class_{label}'], 0))


def test_engine_equals_the_eager_fp32_models(setup):
    """Folded, fused, channels-last, concurrent: the probabilities of model(x) in fp32."""
    models, field = setup
    ensemble = Ensemble(models, precision='fp32', device='cpu')
    assert ensemble.stamp_size == 32            # every member's stamp is the whole stamp
    cut = make_cutouts(field.images, field.candidates, size=32)
    good = cut.flags == 0
    probs = ensemble.predict(cut.data[good], batch_size=16)
    for j, model in enumerate(models):
        norm = StampNormalization.from_dict(model.meta['normalization'])
        x = torch.from_numpy(norm(cut.data[good].astype(np.float32)))
        with torch.no_grad():
            expected = torch.softmax(model.eval()(x), 1).numpy()
        np.testing.assert_allclose(probs[:, j], expected, atol=2e-4)
        # Classes equal wherever the two largest probabilities are not a near tie.
        top = np.sort(expected, axis=1)
        clear = (top[:, -1] - top[:, -2]) > 1e-3
        np.testing.assert_array_equal(probs[clear, j].argmax(1), expected[clear].argmax(1))

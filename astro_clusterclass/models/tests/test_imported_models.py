"""
Imported models in the classification engine: mixed ensembles, the warning
for simulation-trained models on real images, and non-finite outputs.
"""

import warnings

import numpy as np
import pytest
import torch
import torchvision
from astropy.table import QTable
from astropy.utils.exceptions import AstropyUserWarning
from torch import nn

from astro_clusterclass.bands import BANDS
from astro_clusterclass.classify import Ensemble, classify_table, consolidate
from astro_clusterclass.classify._ensemble import ClassFlag, images_simulated
from astro_clusterclass.conftest import gaussian_field
from astro_clusterclass.cutouts import CutoutFlag
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.images import load_images
from astro_clusterclass.models import get_model, import_checkpoint
from astro_clusterclass.models.tests.starcnet_reference import (random_starcnet_state_dict,
                                                                starcnet_probabilities,
                                                                starcnet_stamps)

MEAN, STD = [0.3, 0.35, 0.4, 0.45, 0.5], [0.2, 0.3, 0.4, 0.5, 0.6]


@pytest.fixture(scope='module')
def field():
    return make_cluster_field((160, 200), 24, seed=5)


@pytest.fixture(scope='module')
def starcnet_file(tmp_path_factory):
    work = tmp_path_factory.mktemp('starcnet')
    state = random_starcnet_state_dict(2, logit_scale=3.0)
    torch.save(state, work / 'starcnet.pth')
    import_checkpoint(work / 'starcnet.pth', source='starcnet',
                      output=work / 'starcnet.safetensors')
    return str(work / 'starcnet.safetensors'), state


@pytest.fixture(scope='module')
def resnet_file(tmp_path_factory):
    work = tmp_path_factory.mktemp('resnet')
    torch.manual_seed(4)
    net = torchvision.models.resnet18(num_classes=4)
    net.conv1 = nn.Conv2d(5, 64, kernel_size=7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
    net.eval()
    torch.save(net.state_dict(), work / 'resnet.pth')
    import_checkpoint(work / 'resnet.pth', source='resnet18', output=work / 'resnet.safetensors',
                      bands=BANDS, cutout_size=32,
                      normalization={'method': 'standard', 'mean': MEAN, 'std': STD},
                      trained_on='real')
    return str(work / 'resnet.safetensors'), net


def _resnet_reference(net, data, x, y):
    """Nearest-pixel 32 px stamps, (x - mean) / std, torchvision's network; NaN where cut off."""
    cx = np.floor(np.asarray(x) + 0.5).astype(int)
    cy = np.floor(np.asarray(y) + 0.5).astype(int)
    ny, nx = data[0].shape
    inside = (cx >= 16) & (cy >= 16) & (cx + 16 <= nx) & (cy + 16 <= ny)
    stamps = np.zeros((len(cx), 5, 32, 32), dtype=np.float32)
    for n in np.flatnonzero(inside):
        for b in range(5):
            stamps[n, b] = (data[b][cy[n] - 16:cy[n] + 16, cx[n] - 16:cx[n] + 16]
                            - MEAN[b]) / STD[b]
    with torch.no_grad():
        probs = torch.softmax(net(torch.from_numpy(stamps)).double(), dim=1).numpy()
    probs[~inside] = np.nan
    return probs


def _probs(out, label):
    return np.ma.filled(out[f'prob_{label}'].astype(float), np.nan)


def test_mixed_ensemble_each_member_with_its_transform(field, starcnet_file, resnet_file):
    sc_path, state = starcnet_file
    rn_path, net = resnet_file
    tbl = QTable(field.candidates)
    common = {'precision': 'fp32', 'progress': False, 'return_probabilities': True}
    with warnings.catch_warnings():
        # The bundled model was trained on simulations; these images are simulated.
        warnings.simplefilter('error', AstropyUserWarning)
        out = classify_table(tbl, field.images, models=[sc_path, 'compactnet', rn_path],
                             **common)
    step = out.meta['classification']
    assert [m['label'] for m in step['models']] == ['starcnet', 'compactnet', 'resnet18']
    assert [m['transform']['shift'] for m in step['models']] == [1.0, 0.5, 0.5]
    assert [m['trained_on'] for m in step['models']] == ['real', 'simulations', 'real']
    assert step['cutout_size'] == 33   # holds StarcNet's floor(x + 1) and the others' stamps
    assert step['training_domain'] == {'images_simulated': True,
                                       'trained_on_simulations': ['compactnet'],
                                       'warning': None}
    # Each member gives what it gives alone.
    for label, source in (('starcnet', sc_path), ('compactnet', 'compactnet'),
                          ('resnet18', rn_path)):
        alone = classify_table(tbl, field.images, models=source, **common)
        assert np.allclose(_probs(out, label), _probs(alone, label), atol=1e-6, rtol=0,
                           equal_nan=True)
    # ... which is what the independent implementations give.
    data = [h.data for h in field.hdus]
    stamps, keep = starcnet_stamps(data, tbl['x'], tbl['y'])
    assert keep.sum() >= 15    # the rest lie within StarcNet's 17 px margin
    ref = starcnet_probabilities(state, stamps[keep])
    assert np.abs(_probs(out, 'starcnet')[keep] - ref).max() < 1e-5
    ref_rn = _resnet_reference(net, data, tbl['x'], tbl['y'])
    done = ~out['class_mode'].mask          # the ensemble's 33 px stamp is complete
    assert done.sum() >= 15 and np.isfinite(ref_rn[done]).all()
    assert np.abs(_probs(out, 'resnet18')[done] - ref_rn[done]).max() < 1e-5
    # Consolidation as for any ensemble.
    classes = np.ma.stack([out[f'class_{lb}'] for lb in ('starcnet', 'compactnet',
                                                         'resnet18')], axis=1)
    probs = np.stack([_probs(out, lb) for lb in ('starcnet', 'compactnet', 'resnet18')], 1)
    expected = consolidate(classes, probs)
    assert out['class_mode'].tolist() == expected['class_mode'].tolist()
    assert out['class_quality'].tolist() == expected['class_quality'].tolist()
    assert set(out['n_models'][done].tolist()) == {3}
    assert set(out['n_models'][~done].tolist()) <= {0}


def test_warning_for_simulation_models_on_real_images(field, starcnet_file):
    real = gaussian_field()                       # FITS HDUs without SIMULATE
    tbl = QTable({'x': [60.0, 150.3], 'y': [50.0, 120.7]})
    assert not images_simulated(load_images(real))
    assert images_simulated(field.images)
    with pytest.warns(AstropyUserWarning, match=r"models \['compactnet'\] were trained on "
                                                r"simulated fields only.*import-model"):
        out = classify_table(tbl, real, progress=False)
    domain = out.meta['classification']['training_domain']
    assert domain['images_simulated'] is False
    assert domain['trained_on_simulations'] == ['compactnet']
    assert 'not simulated' in domain['warning']
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstropyUserWarning)
        # Simulated images, a model trained on real images, random weights: no warning.
        classify_table(field.candidates, field.images, progress=False)
        out = classify_table(tbl, real, models=starcnet_file[0], progress=False)
        assert out.meta['classification']['training_domain']['warning'] is None
        classify_table(tbl, real, models=get_model('compactnet', cutout_size=16),
                       progress=False)
    # Plain arrays carry no SIMULATE keyword: nothing says they are simulated.
    arrays = {b: h.data for b, h in zip(BANDS, field.hdus)}
    with pytest.warns(AstropyUserWarning, match='not simulated'):
        classify_table(field.candidates, arrays, progress=False)


def test_imported_simulation_model_warns(tmp_path):
    torch.manual_seed(0)
    model = get_model('compactnet', cutout_size=16, widths=(8, 16))
    torch.save(model.state_dict(), tmp_path / 'sim.pth')
    import_checkpoint(tmp_path / 'sim.pth', source='compactnet', output=tmp_path / 's.safetensors',
                      bands=BANDS, cutout_size=16, normalization='asinh',
                      config={'widths': [8, 16]}, trained_on='simulations')
    tbl = QTable({'x': [60.0], 'y': [50.0]})
    with pytest.warns(AstropyUserWarning, match='trained on simulated fields only'):
        classify_table(tbl, gaussian_field(), models=str(tmp_path / 's.safetensors'),
                       progress=False)


def _nan_model():
    torch.manual_seed(0)
    model = get_model('compactnet', cutout_size=16, widths=(8, 16))
    with torch.no_grad():
        model.fc.weight[1, 2] = float('nan')
    return model


def test_nan_network_never_yields_a_class():
    hdus = gaussian_field()
    tbl = QTable({'x': [60.0, 150.3, 1.0], 'y': [50.0, 120.7, 1.0]})
    out = classify_table(tbl, hdus, models=_nan_model(), progress=False,
                         return_probabilities=True)
    bit = int(ClassFlag.NONFINITE_PROBABILITY)
    assert out['class_flag'].tolist() == [bit, bit, int(CutoutFlag.EDGE)]
    assert out['class_compactnet'].mask.all() and out['class_mode'].mask.all()
    assert out['class_quality'].mask.all() and out['prob_1'].mask.all()
    step = out.meta['classification']
    assert step['n_classified'] == 0 and step['n_nonfinite_probabilities'] == 2
    assert ClassFlag.decode(out['class_flag'][0]) == ['NONFINITE_PROBABILITY']
    # In an ensemble, one diverged member leaves the row without any class.
    torch.manual_seed(1)
    good = get_model('compactnet', cutout_size=16, widths=(8, 16))
    out = classify_table(tbl, hdus, models=[good, _nan_model()], progress=False)
    assert out['class_compactnet_1'].mask[:2].all() and out['class_mode'].mask.all()
    assert (out['class_flag'][:2] & bit).all()


def test_only_the_rows_with_non_finite_probabilities_are_flagged(monkeypatch):
    hdus = gaussian_field()
    tbl = QTable({'x': [60.0, 150.3, 100.0, 80.0], 'y': [50.0, 120.7, 100.0, 60.0]})
    torch.manual_seed(0)
    ensemble = Ensemble(get_model('compactnet', cutout_size=16, widths=(8, 16)),
                        precision='fp32')
    forward = ensemble._forward

    def some_rows_overflow(stamps, positions, batch_size):
        probs = forward(stamps, positions, batch_size)
        probs[positions['x'] == 150.3] = np.inf    # what a diverging layer would give
        return probs

    before = classify_table(tbl, hdus, models=ensemble, progress=False)
    monkeypatch.setattr(ensemble, '_forward', some_rows_overflow)
    out = classify_table(tbl, hdus, models=ensemble, progress=False)
    assert out['class_flag'].tolist() == [0, int(ClassFlag.NONFINITE_PROBABILITY), 0, 0]
    assert out['class_mode'].mask.tolist() == [False, True, False, False]
    keep = [0, 2, 3]
    assert out['class_mode'][keep].tolist() == before['class_mode'][keep].tolist()
    assert out.meta['classification']['n_nonfinite_probabilities'] == 1


def test_class_flag_bits_extend_cutout_flags():
    for flag in CutoutFlag:
        assert int(ClassFlag[flag.name]) == int(flag)
        assert ClassFlag[flag.name].description == flag.description
    assert int(ClassFlag.NONFINITE_PROBABILITY) not in [int(f) for f in CutoutFlag]

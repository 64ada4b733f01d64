"""
Tests of ``clusterclass import-model``: models trained elsewhere, imported and
run through ``clusterclass classify``, reproduce independent implementations
of their own inference.
"""

import json
import warnings

import numpy as np
import pytest
import torch
import torchvision
from astropy.io import fits
from astropy.table import QTable
from astropy.utils.exceptions import AstropyUserWarning
from torch import nn

from astro_clusterclass.bands import BANDS
from astro_clusterclass.cli import main
from astro_clusterclass.cutouts import CutoutFlag
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import load_model, sha256_file
from astro_clusterclass.models.tests.starcnet_reference import (random_starcnet_state_dict,
                                                                rounded_stamps,
                                                                starcnet_probabilities,
                                                                starcnet_stamps)

#: Extra candidates near the borders of the 200 x 160 px field (0-based x, y):
#: cut off, inside StarcNet's 17 px margin, and just inside it.
EXTRA_X = [3.0, 15.4, 16.6, 16.0, 183.0, 150.0, np.nan]
EXTRA_Y = [80.0, 80.0, 80.0, 40.0, 142.6, 158.5, 30.0]


@pytest.fixture(scope='module')
def simulated(tmp_path_factory):
    """A simulated field as FITS files, and a catalog with border candidates added."""
    work = tmp_path_factory.mktemp('field')
    field = make_cluster_field((160, 200), 30, seed=4)
    paths = field.write(work)
    x = np.concatenate([field.candidates['x'], EXTRA_X])
    y = np.concatenate([field.candidates['y'], EXTRA_Y])
    catalog = work / 'catalog.ecsv'
    QTable({'id': np.arange(1, len(x) + 1), 'x': x, 'y': y}).write(catalog)
    images = [paths[b] for b in BANDS]
    data = [fits.getdata(p).astype(np.float32) for p in images]
    return {'catalog': str(catalog), 'images': images, 'data': data, 'x': x, 'y': y}


def _classify(tmp_path, simulated, model, name):
    out = tmp_path / f'{name}.fits'
    status = main(['classify', simulated['catalog'], *simulated['images'], '-o', str(out),
                   '-m', str(model), '--precision', 'fp32', '--probabilities',
                   '--no-progress'])
    assert status == 0
    return QTable.read(out)


def test_starcnet_reproduces_its_own_inference(tmp_path, simulated, capsys):
    state = random_starcnet_state_dict(7, logit_scale=3.0)
    pth = tmp_path / 'starcnet.pth'
    torch.save(state, pth)                        # as StarcNet saves model/starcnet.pth
    model = tmp_path / 'starcnet.safetensors'
    assert main(['import-model', str(pth), '--from', 'starcnet', '-o', str(model)]) == 0
    printed = capsys.readouterr().out
    assert 'as starcnet: 15265156 parameters' in printed and 'shift 1.0' in printed
    meta = load_model(model).meta
    assert meta['import']['source_sha256'] == sha256_file(pth)

    tbl = _classify(tmp_path, simulated, model, 'starcnet')
    x, y, data = simulated['x'], simulated['y'], simulated['data']
    assert tbl['id'].tolist() == list(range(1, len(x) + 1))      # no row lost
    ours = np.ma.filled(tbl['prob_starcnet'].astype(float), np.nan)

    stamps, keep = starcnet_stamps(data, x, y)
    assert keep.sum() >= 25
    ref = starcnet_probabilities(state, stamps[keep])
    assert not tbl['class_starcnet'].mask[keep].any()           # StarcNet's rows all classified
    assert np.abs(ours[keep] - ref).max() < 1e-5
    assert ref.max() - ref.min() > 0.3                           # the classes are spread
    # The test would see a wrong stamp rule: the nearest pixel gives other numbers.
    wrong, _ = rounded_stamps(data, x, y)
    assert np.abs(starcnet_probabilities(state, wrong[keep]) - ref).max() > 1e-3

    # The rows StarcNet drops are kept: cut-off stamps are flagged and masked;
    # complete stamps inside its 17 px margin are classified, by the same network.
    dropped = np.flatnonzero(~keep)
    flags = np.asarray(tbl['class_flag'])
    edge = (flags & int(CutoutFlag.EDGE)) != 0
    assert edge[dropped].any() and (~edge[dropped]).any()
    assert tbl['class_starcnet'].mask[dropped[edge[dropped]]].all()
    inner = dropped[~edge[dropped]]
    full, _ = starcnet_stamps([np.pad(d, 17) for d in data], x[inner] + 17, y[inner] + 17)
    assert np.abs(ours[inner] - starcnet_probabilities(state, full)).max() < 1e-5
    step = json.loads(tbl.meta['CCMETA'])['classification']
    assert step['models'][0]['trained_on'] == 'real'
    assert step['training_domain']['warning'] is None


def test_resnet18_state_dict_reproduces_torchvision(tmp_path, simulated):
    torch.manual_seed(11)
    net = torchvision.models.resnet18(num_classes=4)
    net.conv1 = nn.Conv2d(5, 64, kernel_size=7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
    net.eval()
    pth = tmp_path / 'resnet18.pth'
    torch.save(net.state_dict(), pth)
    # The other group fed the bands from red to blue.
    order = list(reversed(BANDS))
    mean, std = [0.5, 0.45, 0.4, 0.35, 0.3], [0.6, 0.5, 0.4, 0.3, 0.2]
    model = tmp_path / 'resnet18.safetensors'
    assert main(['import-model', str(pth), '--from', 'resnet18', '-o', str(model),
                 '--bands', *order, '--cutout-size', '32', '--mean', *map(str, mean),
                 '--std', *map(str, std), '--trained-on', 'real']) == 0

    tbl = _classify(tmp_path, simulated, model, 'resnet18')
    x, y, data = simulated['x'], simulated['y'], simulated['data']
    cx = np.floor(np.nan_to_num(x, nan=-99) + 0.5).astype(int)
    cy = np.floor(np.nan_to_num(y, nan=-99) + 0.5).astype(int)
    ny, nx = data[0].shape
    inside = (cx >= 16) & (cy >= 16) & (cx + 16 <= nx) & (cy + 16 <= ny)
    stamps = np.zeros((inside.sum(), 5, 32, 32), dtype=np.float32)
    for k, n in enumerate(np.flatnonzero(inside)):
        for c, band in enumerate(order):
            b = BANDS.index(band)
            stamps[k, c] = (data[b][cy[n] - 16:cy[n] + 16, cx[n] - 16:cx[n] + 16]
                            - mean[c]) / std[c]
    with torch.no_grad():
        ref = torch.softmax(net(torch.from_numpy(stamps)).double(), dim=1).numpy()
    ours = np.ma.filled(tbl['prob_resnet18'].astype(float), np.nan)
    assert not tbl['class_resnet18'].mask[inside].any()
    assert tbl['class_resnet18'].mask[~inside].all()
    assert np.abs(ours[inside] - ref).max() < 1e-5


def test_import_errors_name_the_file_and_the_flag(tmp_path, capsys):
    state = random_starcnet_state_dict(0)
    state['fc2.weight'] = state['fc2.weight'][:3].clone()
    state['fc2.bias'] = state['fc2.bias'][:3].clone()
    pth = tmp_path / 'three.pth'
    torch.save(state, pth)
    out = tmp_path / 'm.safetensors'
    assert main(['import-model', str(pth), '--from', 'starcnet', '-o', str(out)]) == 1
    err = capsys.readouterr().err
    assert 'clusterclass import-model: error:' in err and 'three.pth' in err
    assert 'fc2 has 3 outputs' in err and not out.exists()
    assert main(['import-model', str(pth), '--from', 'resnet18', '-o', str(out),
                 '--cutout-size', '32', '--normalization', 'asinh']) == 1
    assert '--bands: give the bands' in capsys.readouterr().err
    assert main(['import-model', str(pth), '--from', 'starcnet', '-o', str(out),
                 '--bands', 'F275W', 'F336W']) == 1
    assert '--bands: 2 band(s) given' in capsys.readouterr().err
    assert main(['import-model', str(pth), '--from', 'resnet18', '-o', str(out),
                 '--bands', *BANDS, '--cutout-size', '32', '--normalization', '{"method":'])\
        == 1
    assert '--normalization' in capsys.readouterr().err
    out.write_bytes(b'')
    assert main(['import-model', str(pth), '--from', 'starcnet', '-o', str(out)]) == 1
    assert 'pass --overwrite' in capsys.readouterr().err


def test_models_without_weights_give_the_recipe(tmp_path, small_field_files, capsys):
    catalog = tmp_path / 'cat.ecsv'
    QTable({'x': [60.0], 'y': [50.0]}).write(catalog)
    status = main(['classify', str(catalog), *small_field_files, '-o',
                   str(tmp_path / 'o.ecsv'), '-m', 'resnet18', '--no-progress'])
    assert status == 1
    err = capsys.readouterr().err
    assert "'resnet18' has no trained weights yet" in err
    assert 'import-model starcnet.pth --from starcnet' in err
    assert 'github.com/gperezs/StarcNet' in err and 'clusterclass train' in err


def test_default_model_warns_on_real_images(tmp_path, small_field_files, simulated):
    catalog = tmp_path / 'cat.ecsv'
    QTable({'x': [60.0, 150.3], 'y': [50.0, 120.7]}).write(catalog)
    out = tmp_path / 'real.ecsv'
    with pytest.warns(AstropyUserWarning, match='trained on simulated fields only'):
        assert main(['classify', str(catalog), *small_field_files, '-o', str(out),
                     '--no-progress']) == 0
    domain = QTable.read(out).meta['classification']['training_domain']
    assert domain['images_simulated'] is False and 'not simulated' in domain['warning']
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstropyUserWarning)
        assert main(['classify', simulated['catalog'], *simulated['images'], '-o',
                     str(tmp_path / 'sim.ecsv'), '--no-progress']) == 0

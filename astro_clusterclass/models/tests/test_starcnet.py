"""Tests of the StarcNet architecture and of importing checkpoints trained elsewhere."""

import os
import pickle

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from astro_clusterclass._utils.errors import CheckpointError
from astro_clusterclass.bands import BANDS
from astro_clusterclass.models import (STARCNET_MEAN, StarcNet, get_model, import_checkpoint,
                                       list_models, load_model, prepare_for_inference,
                                       read_state_dict, save_checkpoint, sha256_file,
                                       trained_on)
from astro_clusterclass.models.tests.starcnet_reference import (STARCNET_MEAN as FILE_MEAN,
                                                                StarcNetLayout,
                                                                random_starcnet_state_dict,
                                                                starcnet_probabilities)
from astro_clusterclass.preprocessing import StampTransform


@pytest.fixture(scope='module')
def state_dict():
    return random_starcnet_state_dict(1, logit_scale=3.0)


@pytest.fixture(scope='module')
def starcnet_pth(tmp_path_factory, state_dict):
    """A StarcNet state dict saved exactly as StarcNet saves its own."""
    path = tmp_path_factory.mktemp('starcnet') / 'starcnet.pth'
    torch.save(state_dict, path)
    return path


@pytest.fixture(scope='module')
def imported(tmp_path_factory, starcnet_pth):
    output = tmp_path_factory.mktemp('imported') / 'starcnet.safetensors'
    digest = import_checkpoint(starcnet_pth, source='starcnet', output=output)
    return output, digest


class _Exploit:
    executed = False

    def __reduce__(self):
        return (_mark_executed, ())


def _mark_executed():
    _Exploit.executed = True
    return {}


def test_architecture_matches_the_published_layout(state_dict):
    net = StarcNet()
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in state_dict.items()}
    assert ours == theirs
    assert sum(p.numel() for p in net.parameters()) == 15_265_156   # the count
    assert 'starcnet' in list_models()
    assert StarcNetLayout().fc2.in_features == 3 * 128


def test_forward_equals_the_independent_implementation(state_dict):
    net = StarcNet().eval()
    net.load_state_dict(state_dict, strict=True)
    rng = np.random.default_rng(0)
    stamps = rng.gamma(1.0, 0.5, size=(6, 5, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ours = torch.softmax(net(torch.from_numpy(stamps)).double(), dim=1).numpy()
    ref = starcnet_probabilities(state_dict, stamps)
    assert np.abs(ours - ref).max() < 1e-6
    # The inference copy (fx, channels-last) computes the same function.
    fast = prepare_for_inference(net, input_size=32)
    x = torch.from_numpy(stamps).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        quick = torch.softmax(fast(x).double(), dim=1).numpy()
    assert np.abs(quick - ref).max() < 1e-5


def test_builder_metadata():
    model = get_model('starcnet')
    meta = model.meta
    assert meta['cutout_size'] == 32 and meta['categories'] == [1, 2, 3, 4]
    assert meta['normalization'] == {'method': 'standard', 'mean': list(STARCNET_MEAN),
                                     'std': [1.0] * 5}
    assert np.allclose(STARCNET_MEAN, FILE_MEAN, rtol=0, atol=0)
    transform = StampTransform.from_meta(meta)
    assert transform.shift == 1.0 and transform.size == 32
    assert meta['stem_layers'] == ['conv1', 'aconv1', 'aaconv1']
    with pytest.raises(ValueError, match='32 px stamps only'):
        get_model('starcnet', cutout_size=64)
    with pytest.raises(ValueError, match='no ImageNet weights'):
        get_model('starcnet', weights_backbone='IMAGENET1K_V1')


def test_stamp_rule_is_starcnets():
    """floor(x + 1) with 0-based x is int(X) of the 1-based LEGUS position X = x + 1."""
    transform = StampTransform.from_meta(get_model('starcnet').meta)
    x = np.array([16.0, 16.2, 16.5, 16.99, 17.0, 100.7, 250.49])
    X = x + 1.0
    x0, _ = transform.corners(x, x)
    assert x0.tolist() == [int(v) - 16 for v in X]
    image = np.arange(300 * 300, dtype=np.float32).reshape(300, 300)
    stamps = np.broadcast_to(image, (1, 5, 300, 300))
    for xi, yi in [(40.3, 57.9), (120.0, 33.5), (80.99, 81.0)]:
        X, Y = xi + 1, yi + 1
        theirs = image[int(Y) - 16:int(Y) + 16, int(X) - 16:int(X) + 16]
        ours = transform.crop(stamps, x0=[0], y0=[0], x=[xi], y=[yi])[0, 0]
        assert np.array_equal(ours, theirs)


def test_import_records_provenance(imported, starcnet_pth, state_dict):
    output, digest = imported
    assert digest == sha256_file(output)
    model = load_model(output, sha256=digest)
    meta = model.meta
    assert meta['architecture'] == 'starcnet' and meta['trained_on'] == 'real'
    assert trained_on(meta) == 'real'
    assert meta['import']['source_sha256'] == sha256_file(starcnet_pth)
    assert meta['import']['file'] == 'starcnet.pth'
    assert meta['import']['format'] == 'torch zip'
    assert meta['transform'] == {'size': 32, 'shift': 1.0,
                                 'normalization': get_model('starcnet').meta['normalization']}
    assert meta['bands'] == list(BANDS) and meta['categories'] == [1, 2, 3, 4]
    assert 'ApJ, 907, 100' in meta['citation'] and 'GPL-3.0' in meta['license']
    assert meta['num_params'] == 15_265_156
    for key, value in state_dict.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_mean_file_replaces_the_offsets(tmp_path, starcnet_pth):
    mean = tmp_path / 'mean.npy'
    np.save(mean, np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    out = tmp_path / 'm.safetensors'
    import_checkpoint(starcnet_pth, source='starcnet', output=out, mean_file=mean)
    meta = load_model(out).meta
    assert meta['normalization']['mean'] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert meta['import']['normalization_from'] == str(mean)
    np.save(tmp_path / 'four.npy', np.zeros(4))
    with pytest.raises(ValueError, match='mean_file.*4 value'):
        import_checkpoint(starcnet_pth, source='starcnet', output=tmp_path / 'x.safetensors',
                          mean_file=tmp_path / 'four.npy')
    np.save(tmp_path / 'objects.npy', np.array([{'a': 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match='pickled objects are never loaded'):
        import_checkpoint(starcnet_pth, source='starcnet', output=tmp_path / 'x.safetensors',
                          mean_file=tmp_path / 'objects.npy')
    assert not os.path.exists(tmp_path / 'x.safetensors')


def test_nested_and_data_parallel_state_dicts(tmp_path, state_dict):
    path = tmp_path / 'nested.pth'
    wrapped = {f'module.{k}': v for k, v in state_dict.items()}
    torch.save({'epoch': 12, 'model_state_dict': wrapped}, path)
    loaded, info = read_state_dict(path)
    assert set(loaded) == set(state_dict)
    assert info == {'format': 'torch zip', 'container_key': 'model_state_dict',
                    'removed_prefix': 'module.', 'other_keys': ['epoch']}
    out = tmp_path / 'n.safetensors'
    import_checkpoint(path, source='starcnet', output=out)
    assert load_model(out).meta['import']['removed_prefix'] == 'module.'


def test_legacy_torch_format_and_safetensors_input(tmp_path, state_dict):
    legacy = tmp_path / 'legacy.pth'
    torch.save(state_dict, legacy, _use_new_zipfile_serialization=False)
    assert read_state_dict(legacy)[1]['format'] == 'torch legacy'
    import safetensors.torch
    plain = tmp_path / 'plain.safetensors'
    safetensors.torch.save_file({k: v.contiguous() for k, v in state_dict.items()}, plain)
    tensors, info = read_state_dict(plain)
    assert info['format'] == 'safetensors' and set(tensors) == set(state_dict)
    out = tmp_path / 'from_legacy.safetensors'
    import_checkpoint(legacy, source='starcnet', output=out)
    assert torch.equal(load_model(out).state_dict()['fc2.weight'], state_dict['fc2.weight'])


# -- bad input ---------------------------------------------------------------

def _save(tmp_path, name, obj):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _import(path, tmp_path, **kwargs):
    kwargs.setdefault('source', 'starcnet')
    return import_checkpoint(path, output=tmp_path / 'out.safetensors', **kwargs)


def test_pickled_code_refused_never_executed(tmp_path, state_dict):
    path = _save(tmp_path, 'evil.pth', {**state_dict, 'fc2.bias': _Exploit()})
    with pytest.raises(CheckpointError, match=r"evil.pth.*refused: it contains pickled "
                                              r"Python objects \(code\)"):
        _import(path, tmp_path)
    legacy = tmp_path / 'evil_legacy.pth'
    with open(legacy, 'wb') as fh:
        pickle.dump({'conv1.weight': _Exploit()}, fh, protocol=2)
    with pytest.raises(CheckpointError, match='evil_legacy.pth.*refused: it contains pickled'):
        _import(legacy, tmp_path)
    assert not _Exploit.executed
    assert not (tmp_path / 'out.safetensors').exists()


def test_missing_and_extra_keys(tmp_path, state_dict):
    fewer = {k: v for k, v in state_dict.items() if k != 'aabn7.bias'}
    with pytest.raises(CheckpointError, match=r"fewer.pth.*1 tensor\(s\) missing: aabn7.bias"):
        _import(_save(tmp_path, 'fewer.pth', fewer), tmp_path)
    more = {**state_dict, 'fc3.weight': torch.zeros(2, 2)}
    with pytest.raises(CheckpointError, match=r"more.pth.*1 tensor\(s\) unexpected: fc3.weight"):
        _import(_save(tmp_path, 'more.pth', more), tmp_path)


def test_wrong_shapes(tmp_path, state_dict):
    bad = {**state_dict, 'afc1.weight': torch.zeros(128, 1000)}
    with pytest.raises(CheckpointError, match=r"shape.pth.*afc1.weight has shape \(128, 1000\), "
                                              r"the architecture \(128, 32768\)"):
        _import(_save(tmp_path, 'shape.pth', bad), tmp_path)


def test_wrong_numbers_of_bands_and_classes(tmp_path, state_dict):
    three = dict(state_dict)
    for prefix in ('', 'a', 'aa'):
        three[f'{prefix}conv1.weight'] = state_dict[f'{prefix}conv1.weight'][:, :3].clone()
    with pytest.raises(CheckpointError, match=r'bands3.pth.*conv1 takes 3 input channel'):
        _import(_save(tmp_path, 'bands3.pth', three), tmp_path)
    classes = {**state_dict, 'fc2.weight': state_dict['fc2.weight'][:3].clone(),
               'fc2.bias': state_dict['fc2.bias'][:3].clone()}
    with pytest.raises(CheckpointError, match=r'classes3.pth.*fc2 has 3 outputs.*need 4'):
        _import(_save(tmp_path, 'classes3.pth', classes), tmp_path)
    with pytest.raises(ValueError, match=r'bands: 4 band\(s\) given'):
        _import(_save(tmp_path, 'ok.pth', state_dict), tmp_path,
                bands=['F275W', 'F336W', 'F438W', 'F814W'])
    with pytest.raises(ValueError, match='not the five bands'):
        _import(tmp_path / 'ok.pth', tmp_path, bands=['F275W', 'F275W', 'F438W', 'F555W',
                                                      'F814W'])


def test_non_finite_tensors_refused(tmp_path, state_dict):
    bad = dict(state_dict)
    bad['bn4.weight'] = state_dict['bn4.weight'].clone()
    bad['bn4.weight'][3] = float('nan')
    bad['fc2.bias'] = torch.tensor([0.0, float('inf'), 0.0, 0.0])
    with pytest.raises(CheckpointError, match=r"nan.pth' has non-finite \(NaN or infinite\) "
                                              r"values in 2 tensor\(s\): bn4.weight, fc2.bias"):
        _import(_save(tmp_path, 'nan.pth', bad), tmp_path)


def test_non_finite_checkpoint_refused_at_load(tmp_path):
    torch.manual_seed(0)
    model = get_model('compactnet', cutout_size=16, widths=(8, 16))
    with torch.no_grad():
        model.fc.weight[0, 0] = float('nan')
    path = tmp_path / 'diverged.safetensors'
    save_checkpoint(model, path)
    with pytest.raises(CheckpointError, match=r"diverged.safetensors' has non-finite.*fc.weight"):
        load_model(path)


def test_truncated_and_foreign_files(tmp_path, starcnet_pth):
    data = starcnet_pth.read_bytes()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut.pth' is damaged: it is truncated"):
        _import(cut, tmp_path)
    legacy = tmp_path / 'legacy.pth'
    torch.save({'w': torch.zeros(1000)}, legacy, _use_new_zipfile_serialization=False)
    short = tmp_path / 'short.pth'
    short.write_bytes(legacy.read_bytes()[:300])
    with pytest.raises(CheckpointError, match='short.pth.*truncated or damaged'):
        _import(short, tmp_path)
    text = tmp_path / 'notes.pth'
    text.write_text('not a model')
    with pytest.raises(CheckpointError, match='notes.pth.*neither a torch file'):
        _import(text, tmp_path)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match=r'empty.pth.*is empty'):
        _import(empty, tmp_path)
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        _import(tmp_path / 'nowhere.pth', tmp_path)
    with pytest.raises(CheckpointError, match='holds a list, not a state dict'):
        _import(_save(tmp_path, 'list.pth', [torch.zeros(2)]), tmp_path)
    with pytest.raises(CheckpointError, match='entries that are not tensors: epoch'):
        _import(_save(tmp_path, 'mixed.pth', {'epoch': 3, 'w': torch.zeros(2)}), tmp_path)
    assert not (tmp_path / 'out.safetensors').exists()


def test_options_checked(tmp_path, starcnet_pth):
    with pytest.raises(ValueError, match="source='starcnet2' is not a registered"):
        _import(starcnet_pth, tmp_path, source='starcnet2')
    with pytest.raises(ValueError, match='32 px stamps only'):
        _import(starcnet_pth, tmp_path, cutout_size=48)
    with pytest.raises(ValueError, match='normalization= or mean_file='):
        _import(starcnet_pth, tmp_path, normalization='asinh', mean_file='m.npy')
    with pytest.raises(ValueError, match="trained_on must be 'real', 'simulations'"):
        _import(starcnet_pth, tmp_path, trained_on='both')
    (tmp_path / 'out.safetensors').write_bytes(b'x')
    with pytest.raises(FileExistsError, match='output: .*out.safetensors'):
        _import(starcnet_pth, tmp_path)


# -- other architectures -----------------------------------------------------

def _resnet18_five_bands(seed=0):
    """torchvision's ResNet18 with a five-band stem and four classes, as another group makes it."""
    torch.manual_seed(seed)
    net = torchvision.models.resnet18(num_classes=4)
    net.conv1 = nn.Conv2d(5, 64, kernel_size=7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.normal_(1.0, 0.2)
                module.bias.normal_(0.0, 0.1)
    return net.eval()


def test_resnet18_import_needs_its_settings(tmp_path):
    net = _resnet18_five_bands()
    path = _save(tmp_path, 'resnet.pth', net.state_dict())
    with pytest.raises(ValueError, match='bands: give the bands'):
        _import(path, tmp_path, source='resnet18', cutout_size=32, normalization='asinh')
    with pytest.raises(ValueError, match='cutout_size: give the stamp side'):
        _import(path, tmp_path, source='resnet18', bands=BANDS, normalization='asinh')
    with pytest.raises(ValueError, match='normalization: give the input normalisation'):
        _import(path, tmp_path, source='resnet18', bands=BANDS, cutout_size=32)
    with pytest.raises(CheckpointError, match='does not fit the vgg19_bn architecture'):
        _import(path, tmp_path, source='vgg19_bn', bands=BANDS, cutout_size=32,
                normalization='asinh')


def test_resnet18_bands_reordered(tmp_path):
    """A model whose input channels run F814W → F275W gets its stem reordered, exactly."""
    net = _resnet18_five_bands(3)
    file_order = list(reversed(BANDS))
    mean, std = [0.5, 0.4, 0.3, 0.2, 0.1], [1.0, 2.0, 3.0, 4.0, 5.0]
    path = _save(tmp_path, 'reversed.pth', net.state_dict())
    out = tmp_path / 'r.safetensors'
    import_checkpoint(path, source='resnet18', output=out, bands=file_order, cutout_size=32,
                      normalization={'method': 'standard', 'mean': mean, 'std': std},
                      trained_on='real', license='CC-BY-4.0')
    model = load_model(out)
    meta = model.meta
    assert meta['import']['bands_in_file'] == file_order
    assert meta['normalization']['mean'] == mean[::-1]
    assert meta['normalization']['std'] == std[::-1]
    assert meta['license'] == 'CC-BY-4.0' and meta['transform']['shift'] == 0.5
    rng = np.random.default_rng(1)
    raw = rng.normal(1.0, 1.0, size=(4, 5, 32, 32)).astype(np.float32)   # package order
    theirs_in = (raw[:, ::-1] - np.array(mean)[None, :, None, None]) \
        / np.array(std)[None, :, None, None]
    norm = StampTransform.from_meta(meta).normalization
    with torch.no_grad():
        theirs = net(torch.from_numpy(np.ascontiguousarray(theirs_in, dtype=np.float32)))
        ours = model(torch.from_numpy(norm(raw)))
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)

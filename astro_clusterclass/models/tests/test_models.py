"""Tests of the model registry, architectures, stem adaptation and VGG folding."""

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from astro_clusterclass.bands import BANDS
from astro_clusterclass.models import (RGB_CHANNEL_OF_BAND, FoldedVGG, WeightsEnum,
                                       adapt_input_conv, fold_classifier, get_model,
                                       get_model_builder, get_model_weights, get_weight,
                                       list_models, prepare_for_inference, register_model)
from astro_clusterclass.models import _api, _imagenet


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_list_models():
    assert list_models() == ['compactnet', 'resnet18', 'starcnet', 'vgg19_bn']
    assert list_models(include=['res*', 'comp*']) == ['compactnet', 'resnet18']
    assert list_models(exclude='vgg*') == ['compactnet', 'resnet18', 'starcnet']


def test_unknown_model_lists_registered():
    with pytest.raises(ValueError,
                       match=r"unknown model 'resnet50'.*compactnet.*resnet18.*vgg19_bn"):
        get_model('resnet50')


def test_register_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(_api, '_BUILDERS', dict(_api._BUILDERS))
    monkeypatch.setattr(_api, '_WEIGHT_ENUMS', dict(_api._WEIGHT_ENUMS))
    with pytest.raises(ValueError, match="already registered under the name 'resnet18'"):
        register_model('resnet18')(lambda **kw: None)

    class Tiny_Weights(WeightsEnum):
        pass

    @register_model(weights=Tiny_Weights)
    def tiny(**kwargs):
        return nn.Linear(1, 1)

    assert 'tiny' in list_models()
    assert get_model_builder('TINY') is tiny
    assert get_model_weights(tiny) is Tiny_Weights
    with pytest.raises(TypeError, match='weights must be a WeightsEnum subclass'):
        register_model('other', weights=dict)(tiny)


def test_get_weight_unknown():
    with pytest.raises(ValueError, match='unknown weights .*registered weights'):
        get_weight('ResNet18_Weights.NOPE')
    with pytest.raises(ValueError, match='is not a member of ResNet18_Weights'):
        get_model('resnet18', weights='NOPE')


@pytest.mark.parametrize('name,stem', [('compactnet', 'features.0'), ('resnet18', 'conv1')])
def test_builders_meta_and_shapes(name, stem):
    model = get_model(name, cutout_size=32).eval()
    meta = model.meta
    assert meta['architecture'] == name
    assert meta['bands'] == list(BANDS)
    assert meta['categories'] == [1, 2, 3, 4]
    assert meta['cutout_size'] == 32
    assert meta['stem_layer'] == stem
    assert meta['normalization'] == {'method': 'asinh', 'softening': 3.0}
    assert meta['num_params'] == sum(p.numel() for p in model.parameters())
    assert meta['init'] == 'random' and meta['sha256'] is None
    stem_module = model.get_submodule(stem)
    assert isinstance(stem_module, nn.Conv2d) and stem_module.in_channels == 5
    with torch.no_grad():
        assert model(torch.randn(3, 5, 32, 32)).shape == (3, 4)


def test_builder_argument_errors():
    with pytest.raises(ValueError, match='cutout_size must be an integer'):
        get_model('compactnet', cutout_size=4)
    with pytest.raises(ValueError, match='num_classes must be a positive integer'):
        get_model('compactnet', num_classes=0)
    with pytest.raises(ValueError, match='weights_backbone: compactnet has no ImageNet'):
        get_model('compactnet', weights_backbone='IMAGENET1K_V1')
    with pytest.raises(ValueError, match='method=.*not a normalisation method'):
        get_model('compactnet', normalization={'method': 'log'})


def test_adapt_input_conv_matches_timm_rule():
    rgb = torch.randn(8, 3, 7, 7, dtype=torch.float64)
    out = adapt_input_conv(rgb)
    assert out.shape == (8, 5, 7, 7) and out.dtype == torch.float64
    # Independent statement of the rule: band b takes RGB slice c(b), times 3/5.
    index = {'R': 0, 'G': 1, 'B': 2}
    for i, band in enumerate(BANDS):
        expected = rgb[:, index[RGB_CHANNEL_OF_BAND[band]]] * 0.6
        assert torch.equal(out[:, i], expected)
    # Natural-colour alignment of the optical bands.
    assert [RGB_CHANNEL_OF_BAND[b] for b in ('F814W', 'F555W', 'F438W')] == ['R', 'G', 'B']
    # timm's property: the summed weights of a repeated channel set are preserved
    # when the input has 3 * k channels; here the total is 3/5 of (2R + 2G + B).
    np.testing.assert_allclose(out.sum(1), 0.6 * (2 * rgb[:, 0] + 2 * rgb[:, 1] + rgb[:, 2]))
    with pytest.raises(ValueError, match='3 input channels'):
        adapt_input_conv(torch.zeros(2, 4, 3, 3))


def _write_fake_imagenet(tmp_path, monkeypatch, builder, tv_weights):
    """A random-weights file under a temporary TORCH_HOME with torchvision's name."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    path = _imagenet.torch_cache_path(tv_weights)
    assert path.startswith(str(tmp_path))
    (tmp_path / 'hub' / 'checkpoints').mkdir(parents=True)
    state = builder(weights=None).state_dict()
    torch.save(state, path)
    return state


def test_imagenet_backbone_from_torch_cache(tmp_path, monkeypatch):
    state = _write_fake_imagenet(tmp_path, monkeypatch, torchvision.models.resnet18,
                                 torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    # Never touch the network in this test.
    monkeypatch.setattr(_imagenet, '_reachable', lambda *a, **k: pytest.fail('network'))
    model = get_model('resnet18', weights_backbone='IMAGENET1K_V1', progress=False)
    assert torch.equal(model.conv1.weight, adapt_input_conv(state['conv1.weight']))
    assert torch.equal(model.layer3[1].conv2.weight, state['layer3.1.conv2.weight'])
    assert model.fc.out_features == 4
    meta = model.meta
    assert meta['init'] == 'imagenet:ResNet18_Weights.IMAGENET1K_V1'
    assert meta['stem_layer'] == 'conv1'
    assert meta['stem_adaptation']['method'] == 'repeat_rescale'
    assert meta['stem_adaptation']['rgb_channel_of_band']['F814W'] == 'R'
    # 'IMAGENET' as weights= is shorthand for the same thing.
    again = get_model('resnet18', weights='IMAGENET', progress=False)
    assert torch.equal(again.conv1.weight, model.conv1.weight)
    with pytest.raises(ValueError, match='not both'):
        get_model('resnet18', weights='IMAGENET', weights_backbone='IMAGENET1K_V1')


def test_imagenet_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    monkeypatch.setattr(_imagenet, '_reachable', lambda *a, **k: False)
    expected = str(tmp_path / 'hub' / 'checkpoints' / 'vgg19_bn-c79401a0.pth')
    with pytest.raises(ConnectionError, match='no network') as info:
        get_model('vgg19_bn', weights_backbone='IMAGENET1K_V1')
    assert expected in str(info.value)
    assert 'https://download.pytorch.org/models/vgg19_bn-c79401a0.pth' in str(info.value)


def test_imagenet_checkpoint_with_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    path = _imagenet.torch_cache_path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    (tmp_path / 'hub' / 'checkpoints').mkdir(parents=True)
    torch.save({'x': _Marker()}, path)
    import pickle
    with pytest.raises(pickle.UnpicklingError):
        get_model('resnet18', weights_backbone='IMAGENET1K_V1', progress=False)


class _Marker:
    """A custom class: unpickling it needs code."""


def _slim_vgg():
    """A torchvision VGG with narrow layers (same code paths, small tensors)."""
    cfg = [8, 'M', 16, 'M', 16, 'M', 32, 'M', 32, 'M']
    with torch.device('meta'):  # skip initialising the 100M-weight default head
        model = torchvision.models.VGG(nn.Sequential(), num_classes=4)
    model.features = torchvision.models.vgg.make_layers(cfg, batch_norm=True)
    model.classifier = nn.Sequential(nn.Linear(32 * 49, 24), nn.ReLU(True), nn.Dropout(),
                                     nn.Linear(24, 24), nn.ReLU(True), nn.Dropout(),
                                     nn.Linear(24, 4))
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.double().eval()


@pytest.mark.parametrize('size', [32, 64, 96, 100, 160])
def test_fold_is_exact_in_float64(size):
    model = _slim_vgg()
    folded = fold_classifier(model, size)
    assert isinstance(folded, FoldedVGG)
    side = size // 32
    assert folded.classifier[0].in_features == 32 * side * side < 32 * 49
    x = torch.randn(4, 3, size, size, dtype=torch.float64)
    with torch.no_grad():
        ref, out = model(x), folded(x)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12, atol=1e-13)


def test_fold_not_needed_at_224():
    model = _slim_vgg()
    assert fold_classifier(model, 224) is model
    with pytest.raises(TypeError, match='torchvision VGG'):
        fold_classifier(nn.Linear(2, 2), 64)


@pytest.fixture(scope='module')
def vgg():
    torch.manual_seed(1)
    return get_model('vgg19_bn').eval()


@pytest.mark.slow
def test_fold_real_vgg19_bn(vgg):
    assert vgg.meta['stem_layer'] == 'features.0'
    assert vgg.get_submodule('features.0').in_channels == 5
    x = torch.randn(2, 5, 64, 64)
    with torch.no_grad():
        ref = vgg(x)
        folded = fold_classifier(vgg, 64)
        out = folded(x)
    assert folded.classifier[0].weight.shape == (4096, 512 * 2 * 2)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-4, atol=1e-6)
    # The original is untouched (shares layers, not changed).
    assert vgg.classifier[0].weight.shape == (4096, 512 * 49)
    prepared = prepare_for_inference(vgg, input_size=64)
    with torch.no_grad():
        fast = prepared(x.contiguous(memory_format=torch.channels_last))
    np.testing.assert_allclose(fast.numpy(), ref.numpy(), rtol=1e-3, atol=1e-5)
    assert vgg.classifier[0].weight.dtype == torch.float32


@pytest.mark.parametrize('name', ['compactnet', 'resnet18'])
def test_prepare_for_inference_same_function_original_untouched(name):
    model = get_model(name, cutout_size=32)
    # Non-trivial BN statistics so that fusing them matters.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    prepared = prepare_for_inference(model, input_size=32, dtype=torch.float32)
    assert model.training
    model.eval()
    x = torch.randn(5, 5, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(prepared(x.contiguous(memory_format=torch.channels_last)),
                                   model(x), rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    assert prepared.meta['inference'] is True and 'inference' not in model.meta
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    half = prepare_for_inference(model, input_size=32, dtype=torch.bfloat16)
    assert next(half.parameters()).dtype == torch.bfloat16
    assert next(model.parameters()).dtype == torch.float32

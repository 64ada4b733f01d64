"""
The int8 path: classes equal to fp32 within the documented tolerance,
refusals with the figure, rows kept and flagged, clear errors where int8
cannot run.
"""

import numpy as np
import pytest
import torch
from astropy.table import QTable

from astro_clusterclass.classify import (INT8_MIN_AGREEMENT, Ensemble, EnsembleSpec, Int8Module,
                                         QuantizationRefusedError, check_precision,
                                         classify_table, float_layers, int8_agreement,
                                         resolve_precision)
from astro_clusterclass.classify import _quantize
from astro_clusterclass.cutouts import make_cutouts
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import get_model, prepare_for_inference


@pytest.fixture(scope='module')
def field():
    return make_cluster_field((1400, 1400), 1200, seed=11)


def _agreement(a, b, column):
    ok = ~a[column].mask
    return float(np.mean(np.asarray(a[column][ok]) == np.asarray(b[column][ok])))


def test_bundled_model_int8_gives_the_fp32_classes(field):
    """The bundled model: int8 classes equal fp32's within INT8_MIN_AGREEMENT; no row lost."""
    tbl = QTable(field.candidates)['id', 'x', 'y']
    tbl.add_row({'id': -1, 'x': np.nan, 'y': 100.0})     # no position: flagged, masked
    tbl.add_row({'id': -2, 'x': 3.0, 'y': 700.0})        # at the edge: flagged, masked
    fp32 = classify_table(tbl, field.images, precision='fp32', progress=False,
                          return_probabilities=True)
    int8 = classify_table(tbl, field.images, precision='int8', progress=False,
                          return_probabilities=True)
    assert len(int8) == len(tbl) and list(int8['id']) == list(tbl['id'])
    np.testing.assert_array_equal(int8['class_flag'], fp32['class_flag'])
    np.testing.assert_array_equal(int8['class_mode'].mask, fp32['class_mode'].mask)
    assert int8['class_flag'][-2] != 0 and int8['class_flag'][-1] != 0
    assert int8['class_mode'].mask[-2:].all()
    assert (~fp32['class_mode'].mask).sum() > 1000
    assert _agreement(fp32, int8, 'class_mode') >= INT8_MIN_AGREEMENT
    step = int8.meta['classification']
    assert step['precision'] == 'int8'
    record = step['models'][0]['int8']
    assert record['agreement_with_fp32'] >= INT8_MIN_AGREEMENT
    assert record['calibration_stamps'] == 512 and record['check_stamps'] == 256
    # Probabilities move by int8 rounding only.
    ok = ~fp32['class_mode'].mask
    diff = np.abs(np.asarray(int8['prob_1'][ok]) - np.asarray(fp32['prob_1'][ok]))
    assert np.median(diff) < 0.02


def _huge_range_model(seed=3, factor=1e6):
    """A CompactNet with one channel ``factor`` times the others: int8 keeps no resolution."""
    torch.manual_seed(seed)
    model = get_model('compactnet', cutout_size=32)
    with torch.no_grad():
        model.features[3].weight[0].mul_(factor)
    return model


def test_refused_when_the_check_stamps_disagree(field):
    """Margins learnt on blank stamps do not cover real ones: refused, with the figure."""
    ensemble = Ensemble(_huge_range_model(), precision='int8')
    cut = make_cutouts(field.images, field.candidates, size=ensemble.stamp_size)
    real = cut.data[cut.flags == 0][:300]
    stamps = np.zeros((2 * len(real),) + real.shape[1:], np.float32)
    stamps[1::2] = real                    # even: blank (an absurd calibration); odd: the check
    with pytest.raises(QuantizationRefusedError,
                       match=r"precision='int8' refused: int8 classes equal the fp32 classes "
                             r"for only \d+\.\d\d % of the 300 check stamps") as info:
        ensemble.calibrate_int8(stamps)
    assert info.value.agreement['worst'] < INT8_MIN_AGREEMENT
    # Nothing changed: the members are still the fp32 copies.
    assert ensemble.int8 is None
    assert not any(isinstance(m.module, Int8Module) for m in ensemble.members)
    fp32 = Ensemble(_huge_range_model(), precision='fp32')
    # Equal to rounding: the batch size changes the order of oneDNN's sums.
    np.testing.assert_allclose(ensemble._forward(torch.from_numpy(real[:16]), {}, 8),
                               fp32.predict(real[:16]), rtol=1e-5, atol=1e-7)


def test_refused_when_close_calls_dominate(field):
    """A huge dynamic range makes every stamp a close call: int8 gains nothing, refused."""
    with pytest.raises(QuantizationRefusedError,
                       match=r"precision='int8' refused: member 'compactnet' is so often a "
                             r"close call that \d+\.\d % of the \d+ check stamps") as info:
        classify_table(field.candidates[:600], field.images,
                       models=_huge_range_model(factor=1e3), precision='int8', progress=False)
    assert max(info.value.agreement['fallback'].values()) > 0.25


def test_no_calibration_stamps_refused():
    ensemble = Ensemble('compactnet', precision='int8')
    stamps = np.full((4, 5, 32, 32), np.nan, dtype=np.float32)
    with pytest.raises(QuantizationRefusedError, match='no calibration stamps'):
        ensemble.calibrate_int8(stamps)


def test_int8_agreement_counts_members_and_mode():
    p = np.zeros((400, 2, 4))
    p[:, :, 0] = 0.7
    p[:, :, 1:] = 0.1
    q = p.copy()
    q[:3, 1] = [0.1, 0.7, 0.1, 0.1]         # member 2 changes 3 of 400 classes
    with pytest.raises(QuantizationRefusedError, match="member 'b'") as info:
        int8_agreement(p, q, ['a', 'b'])
    assert info.value.agreement['members'] == {'a': 1.0, 'b': 0.9925}
    out = int8_agreement(p, q, ['a', 'b'], minimum=0.99)
    assert out['mode'] == 1.0                # one vote of two: ties go to the likelier class
    with pytest.raises(QuantizationRefusedError, match='30.0 % of the 400 check stamps'):
        int8_agreement(p, p, ['a', 'b'], fallback={'a': 0.3, 'b': 0.0})


def test_int8_copies_of_the_engine_architectures_agree_on_their_calibration():
    """VGG (folded), ResNet and StarcNet trace and quantize; stems and heads stay fp32."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(64, 5, 32, 32)).astype(np.float32)).contiguous(
        memory_format=torch.channels_last)
    engine = _quantize.quantization_engine(torch.device('cpu'))
    for arch in ('resnet18', 'vgg19_bn'):
        torch.manual_seed(0)
        fast = prepare_for_inference(get_model(arch, cutout_size=32).eval(), input_size=32)
        observing = Int8Module.observe(fast, x[:1], engine=engine)
        with torch.no_grad():
            reference = observing(x)
            int8 = observing.convert()
            got = int8(x)
        assert got.dtype == torch.float32 and got.shape == (64, 4)
        # int8 logits follow fp32 ones (a random network's ranges are wide; no class test).
        assert float(torch.corrcoef(torch.stack([got.ravel(), reference.ravel()]))[0, 1]) > 0.9
        names = float_layers(fast)
        assert len(names) == 2
        layers = dict(int8.graph.named_modules())
        for name in names:   # left in float32 (perhaps fused with its ReLU)
            weights = [p for p in layers[name].parameters() if p.dim() > 1]
            assert weights and all(w.dtype == torch.float32 for w in weights), name
        assert any(type(layer).__module__.startswith('torch.ao.nn.quantized')
                   for layer in layers.values())


def test_guarded_copy_recomputes_close_calls_in_fp32():
    torch.manual_seed(1)
    fast = prepare_for_inference(get_model('compactnet', cutout_size=16), input_size=16)
    x = torch.randn(32, 5, 16, 16).contiguous(memory_format=torch.channels_last)
    engine = _quantize.quantization_engine(torch.device('cpu'))
    observing = Int8Module.observe(fast, x[:1], engine=engine)
    with torch.no_grad():
        observing(x)
        every = observing.convert().guarded(fast, margin=1.1)   # every stamp is close
        np.testing.assert_allclose(every(x).numpy(), fast(x).numpy(), rtol=1e-5, atol=1e-6)


def test_int8_unavailable_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="precision='int8' runs on the CPU only"):
        resolve_precision('int8', torch.device('cuda'))
    monkeypatch.setattr(_quantize, '_ENGINES', ('no-such-engine',))
    with pytest.raises(ValueError, match="precision='int8': this PyTorch has no quantized "
                                         "engine"):
        Ensemble('compactnet', precision='int8')


def test_int8_is_for_inference_in_one_process_only():
    with pytest.raises(ValueError, match="precision='int8' is not one of 'fp32', 'bf16'"):
        check_precision('int8', allow_auto=False)       # training's check
    with pytest.raises(ValueError, match='Dask worker'):
        Ensemble.from_spec(EnsembleSpec.from_models('compactnet'), precision='int8')
    with pytest.raises(ValueError, match="calibration_stamps is for precision='int8'"):
        Ensemble('compactnet', precision='fp32',
                 calibration_stamps=np.zeros((4, 5, 32, 32), np.float32))
    with pytest.raises(ValueError, match="calibrate_int8 needs precision='int8'"):
        Ensemble('compactnet', precision='fp32').calibrate_int8(
            np.zeros((4, 5, 32, 32), np.float32))


def test_calibrated_ensemble_is_reused(field):
    cut = make_cutouts(field.images, field.candidates[:600], size=32)
    ensemble = Ensemble('compactnet', precision='int8', calibration_stamps=cut)
    assert ensemble.int8['source'] == 'given'
    assert ensemble.int8['n_calibration'] == int((cut.flags == 0).sum())
    first = ensemble.predict(cut.data[:20])
    again = classify_table(field.candidates[:20], field.images, models=ensemble,
                           progress=False, return_probabilities=True)
    assert ensemble.int8['source'] == 'given'             # not calibrated again
    ok = cut.flags[:20] == 0
    np.testing.assert_allclose(np.asarray(again['prob_compactnet'])[ok], first[ok, 0],
                               atol=1e-6)


@pytest.mark.slow
def test_trained_resnet_vgg_ensemble_int8_gives_the_fp32_classes(tmp_path):
    """A briefly trained ResNet18 + VGG19-BN pair: int8 classes as fp32's on a new field."""
    from astro_clusterclass.training import simulated_training_set, train_model
    tset = simulated_training_set([(101, 6), (102, 10)], size=32, shape=(1200, 1200),
                                  n_candidates=600, progress=False)
    paths = []
    for arch in ('resnet18', 'vgg19_bn'):
        path = tmp_path / f'{arch}.safetensors'
        train_model(tset, architecture=arch, n_batches=60, progress=False, seed=0,
                    output=path, device='cpu')
        paths.append(str(path))
    field = make_cluster_field((1400, 1400), 1200, seed=12)
    fp32 = classify_table(field.candidates, field.images, models=paths, precision='fp32',
                          progress=False)
    int8 = classify_table(field.candidates, field.images, models=paths, precision='int8',
                          progress=False)
    assert (~fp32['class_mode'].mask).sum() > 1000
    for column in ('class_resnet18', 'class_vgg19_bn', 'class_mode'):
        assert _agreement(fp32, int8, column) >= INT8_MIN_AGREEMENT, column


def test_int8_refused_on_too_few_check_stamps():
    # No class changed, but 50 stamps cannot show 99.5 %: refused, with the count.
    p = np.zeros((50, 1, 4))
    p[:, :, 0] = 0.7
    p[:, :, 1:] = 0.1
    with pytest.raises(QuantizationRefusedError, match='only 50 check stamps') as info:
        int8_agreement(p, p, ['a'])
    assert info.value.agreement == {'n_stamps': 50}
    assert int8_agreement(p, p, ['a'], min_stamps=50)['worst'] == 1.0

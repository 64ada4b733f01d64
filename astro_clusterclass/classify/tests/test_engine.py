"""
The engine: reproduction of a stored classification, stamp
transforms with other centring rules, mixed ensembles against an
independent computation, and the Ensemble / EnsembleSpec API.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.table import QTable

from astro_clusterclass.classify import (Ensemble, EnsembleSpec, classify_table,
                                         native_bf16)
from astro_clusterclass.cutouts import make_cutouts
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import get_model, save_checkpoint
from astro_clusterclass.preprocessing import StampNormalization, StampTransform

DATA = Path(__file__).parent / 'data'
SCRIPTS = Path(__file__).resolve().parents[3] / 'scripts'


def _reference_field():
    """The field of scripts/make_engine_reference.py (rebuilt here if the script is absent)."""
    field = make_cluster_field((600, 600), 160, seed=2024)
    tbl = QTable(field.candidates)['id', 'x', 'y']
    tbl.add_row({'id': -1, 'x': np.nan, 'y': 100.0})
    tbl.add_row({'id': -2, 'x': 700.0, 'y': 100.0})
    return field, tbl


def test_reference_field_is_the_scripts():
    if not SCRIPTS.is_dir():
        pytest.skip('scripts/ is not beside the installed package')
    sys.path.insert(0, str(SCRIPTS))
    try:
        from make_engine_reference import reference_candidates
    finally:
        sys.path.remove(str(SCRIPTS))
    _, expected = reference_candidates()
    _, tbl = _reference_field()
    assert tbl.pformat() == expected.pformat()


# Float32 convolutions sum in an order that depends on the CPU's kernels (AVX2 or
# AVX-512), so probabilities agree to rounding across machines, not bit for bit;
# classes, flags and masks must be identical everywhere.
PROB_RTOL = {'fp32': 1e-4, 'bf16': 2e-2}


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_engine_reproduces_the_stored_classification(precision):
    """The table stored before the engine was reorganised."""
    if precision == 'bf16' and not native_bf16(torch.device('cpu')):
        pytest.skip('the bf16 reference was made on a CPU that computes bf16 natively')
    ref = QTable.read(DATA / f'engine_reference_{precision}.ecsv')
    field, tbl = _reference_field()
    out = classify_table(tbl, field.images, precision=precision, progress=False,
                         return_probabilities=True, chunk_size=64)
    assert out.meta['classification']['precision'] == precision
    for name in ref.colnames:
        np.testing.assert_array_equal(np.ma.getmaskarray(out[name]),
                                      np.ma.getmaskarray(ref[name]), err_msg=name)
        got, want = np.ma.filled(out[name], -9), np.ma.filled(ref[name], -9)
        if np.issubdtype(np.asarray(want).dtype, np.floating):
            np.testing.assert_allclose(got, want, rtol=PROB_RTOL[precision], atol=1e-7,
                                       err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)


# ----------------------------------------------------------------------------
# Stamp transforms

def test_centring_rules():
    rnd = StampTransform(4)
    one_based = StampTransform(4, shift=1.0)
    x = np.array([10.0, 10.49, 10.5, 10.99, -0.5])
    assert rnd.center_pixels(x).tolist() == [10, 10, 11, 11, 0]
    assert one_based.center_pixels(x).tolist() == [11, 11, 11, 11, 0]
    assert rnd.corners(x, x)[0].tolist() == [8, 8, 9, 9, -2]
    assert rnd.offset_range() == (0, 0) and one_based.offset_range() == (0, 1)
    assert rnd.source_size() == 4 and one_based.source_size() == 5
    assert StampTransform(5, shift=1.0).source_size() == 7


def test_absurd_positions_never_overflow():
    pixels = StampTransform(32).center_pixels([1e20, -1e300, np.inf, np.nan])
    assert pixels.dtype == np.int64
    assert pixels[0] > 1e15 and (pixels[1:] < -1e15).all()


def test_crop_follows_each_position():
    """Crops from a larger stamp equal slices of the image at the rule's own centre."""
    rng = np.random.default_rng(1)
    image = rng.normal(size=(60, 60)).astype(np.float32)
    images = {b: image for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')}
    x = rng.uniform(20, 40, 50)
    y = rng.uniform(20, 40, 50)
    transform = StampTransform(8, shift=1.0, normalization={'method': 'none'})
    cut = make_cutouts(images, (x, y), size=transform.source_size())
    got = transform.crop(cut.data, x0=cut.x0, y0=cut.y0, x=cut.x, y=cut.y)
    for i in range(len(x)):
        cx, cy = int(np.floor(x[i] + 1.0)), int(np.floor(y[i] + 1.0))
        expected = image[cy - 4:cy + 4, cx - 4:cx + 4]
        np.testing.assert_array_equal(got[i, 0], expected)
    # A stamp too small for the rule is refused.
    small = make_cutouts(images, (x, y), size=8)
    with pytest.raises(ValueError, match='do not hold the 8 px stamps'):
        transform.crop(small.data, x0=small.x0, y0=small.y0, x=small.x, y=small.y)


def test_transform_metadata():
    norm = StampNormalization('standard', mean=[1, 2, 3, 4, 5], std=[1] * 5)
    transform = StampTransform(32, shift=1.0, normalization=norm)
    assert StampTransform.from_dict(transform.to_dict()) == transform
    meta = {'cutout_size': 32, 'normalization': norm.to_dict(),
            'transform': transform.to_dict()}
    assert StampTransform.from_meta(meta) == transform
    assert StampTransform.from_meta({'cutout_size': 16, 'normalization': {'method': 'none'}}) \
        == StampTransform(16, normalization={'method': 'none'})
    with pytest.raises(ValueError, match='model metadata disagree'):
        StampTransform.from_meta(dict(meta, cutout_size=16))
    with pytest.raises(ValueError, match='transform takes size, shift and normalization'):
        StampTransform.from_dict({'size': 8, 'centre': 1})


# ----------------------------------------------------------------------------
# Mixed ensembles

def _one_based_model(size=16):
    """A CompactNet whose stamp follows StarcNet's rule: 1-based positions truncated."""
    norm = StampNormalization('standard', mean=[0.02, 0.14, 0.14, 0.25, 0.39], std=[1] * 5)
    model = get_model('compactnet', cutout_size=size, normalization=norm)
    model.meta['transform'] = StampTransform(size, shift=1.0, normalization=norm).to_dict()
    return model


def _independent_probabilities(model, shift, images, x, y):
    """Each stamp sliced from the image at floor(x + shift), normalised, run in fp32."""
    size = model.meta['cutout_size']
    norm = StampNormalization.from_dict(model.meta['normalization'])
    stamps = []
    for xi, yi in zip(x, y):
        cx, cy = int(np.floor(xi + shift)), int(np.floor(yi + shift))
        lo_x, lo_y = cx - size // 2, cy - size // 2
        stamps.append(np.stack([np.asarray(a)[lo_y:lo_y + size, lo_x:lo_x + size]
                                for a in images.data]))
    x_in = torch.from_numpy(norm(np.stack(stamps).astype(np.float32)))
    with torch.no_grad():
        return torch.softmax(model.eval()(x_in), 1).numpy()


def test_mixed_ensemble_matches_independent_computation():
    torch.manual_seed(5)
    field = make_cluster_field((300, 300), 40, seed=8)
    tbl = field.candidates
    rounded = get_model('compactnet', cutout_size=32)
    one_based = _one_based_model(16)
    out = classify_table(tbl, field.images, models=[rounded, one_based], precision='fp32',
                         progress=False, return_probabilities=True)
    done = ~out['class_mode'].mask
    assert done.sum() > 30
    x, y = np.asarray(tbl['x'])[done], np.asarray(tbl['y'])[done]
    for label, model, shift in (('compactnet_1', rounded, 0.5), ('compactnet_2', one_based, 1.0)):
        expected = _independent_probabilities(model, shift, field.images, x, y)
        np.testing.assert_allclose(out[f'prob_{label}'][done].filled(np.nan), expected,
                                   atol=1e-5)
    transforms = [m['transform'] for m in out.meta['classification']['models']]
    assert [t['shift'] for t in transforms] == [0.5, 1.0]
    assert out.meta['classification']['cutout_size'] == 32


def test_predict_uses_positions_of_cutouts():
    torch.manual_seed(2)
    field = make_cluster_field((200, 200), 10, seed=4)
    ensemble = Ensemble([_one_based_model(16)], precision='fp32')
    tbl = field.candidates
    cut = make_cutouts(field.images, tbl, size=ensemble.stamp_size)
    ok = cut.flags == 0
    from_cutouts = ensemble.predict(cut)[ok]
    flags, probs, done = ensemble.classify_positions(field.images, tbl['x'], tbl['y'])
    np.testing.assert_allclose(from_cutouts, probs[ok], atol=1e-6)


# ----------------------------------------------------------------------------
# Ensemble and EnsembleSpec

def test_spec_round_trip_checks_hashes(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'a.safetensors'
    save_checkpoint(get_model('compactnet', cutout_size=16), path)
    ensemble = Ensemble([str(path), 'compactnet'], precision='fp32')
    spec = ensemble.spec
    assert spec == EnsembleSpec.from_models([str(path), 'compactnet'])
    assert [r.source for r in spec.references] == [os.path.abspath(path),
                                                   'CompactNet_Weights.SIM_V1']
    again = Ensemble.from_spec(spec, precision='fp32')
    stamps = np.random.default_rng(0).normal(size=(4, 5, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(stamps), ensemble.predict(stamps))
    # The file changed after the spec was made: refused.
    save_checkpoint(get_model('compactnet', cutout_size=16), path, overwrite=True)
    with pytest.raises(ValueError, match='every process must see the same files'):
        Ensemble.from_spec(spec)


def test_modules_have_no_spec_and_metadata_cannot_predict():
    ensemble = Ensemble(get_model('compactnet', cutout_size=16), precision='fp32')
    with pytest.raises(TypeError, match='save_checkpoint'):
        ensemble.spec
    with pytest.raises(TypeError, match='save_checkpoint'):
        EnsembleSpec.from_models(get_model('compactnet'))
    described = Ensemble.from_metadata(ensemble.metas)
    assert described.result_columns() == ensemble.result_columns()
    with pytest.raises(RuntimeError, match='metadata only'):
        described.predict(np.zeros((1, 5, 16, 16), np.float32))


def test_ensemble_given_to_classify_table():
    field = make_cluster_field((200, 200), 10, seed=4)
    ensemble = Ensemble('compactnet', precision='fp32', device='cpu')
    a = classify_table(field.candidates, field.images, models=ensemble, progress=False)
    b = classify_table(field.candidates, field.images, models='compactnet', precision='fp32',
                       progress=False)
    np.testing.assert_array_equal(a['prob_1'], b['prob_1'])
    with pytest.raises(ValueError, match="precision='bf16' but the Ensemble"):
        classify_table(field.candidates, field.images, models=ensemble, precision='bf16')


def test_inference_copies_are_refused():
    from astro_clusterclass.models import prepare_for_inference
    fast = prepare_for_inference(get_model('compactnet', cutout_size=16), input_size=16)
    with pytest.raises(ValueError, match='inference copy'):
        Ensemble(fast)

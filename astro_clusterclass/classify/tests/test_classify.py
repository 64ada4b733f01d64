"""Tests of classify_table: rows, order, flags, ensemble columns, metadata, errors."""

import numpy as np
import pytest
import torch
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table

from astro_clusterclass.bands import BANDS
from astro_clusterclass.classify import classify_table, resolve_precision
from astro_clusterclass.cutouts import CutoutFlag, make_cutouts
from astro_clusterclass.classify import consolidate
from astro_clusterclass.images import load_images
from astro_clusterclass.models import get_model, save_checkpoint
from astro_clusterclass.preprocessing import StampNormalization

from astro_clusterclass.conftest import gaussian_field

SOURCES = [(40.0, 40.0), (60.3, 50.2), (100.0, 100.0), (150.7, 120.1), (180.0, 60.0),
           (200.0, 150.0), (120.0, 40.0), (80.0, 150.0), (2.0, 100.0), (235.0, 5.0)]


@pytest.fixture(scope='module')
def field():
    hdus = gaussian_field(positions=SOURCES, seed=3)
    # A NaN hole near one source (a chip gap).
    hdus[2].data[148:152, 198:202] = np.nan
    return hdus


@pytest.fixture
def candidates():
    x = [s[0] for s in SOURCES] + [-50.0, np.nan]
    y = [s[1] for s in SOURCES] + [10.0, 30.0]
    return QTable({'id': np.arange(1, len(x) + 1), 'x': x, 'y': y,
                   'mag': np.linspace(20, 24, len(x))}, meta={'origin': 'test'})


@pytest.fixture(scope='module')
def models():
    torch.manual_seed(0)
    return [get_model('compactnet', cutout_size=16, widths=(8, 16)),
            get_model('compactnet', cutout_size=24, widths=(8, 16),
                      normalization=StampNormalization('robust', clip=5)),
            get_model('resnet18', cutout_size=32)]


#: Expected flags of the candidates at 32 px (independently reasoned).
EDGE, OFF, NONFIN = int(CutoutFlag.EDGE), int(CutoutFlag.OFF_IMAGE), int(CutoutFlag.NONFINITE)


def _direct(model, images, tbl):
    """Each model's probabilities straight from make_cutouts and the model (no streaming)."""
    size = model.meta['cutout_size']
    stamps = make_cutouts(images, tbl, size=size)
    norm = StampNormalization.from_dict(model.meta['normalization'])
    with torch.no_grad():
        logits = model.eval()(norm(torch.from_numpy(stamps.data)))
    return torch.softmax(logits, 1).numpy()


def test_rows_order_flags_and_columns(field, candidates, models):
    before = candidates.copy()
    out = classify_table(candidates, field, models=models, progress=False,
                         return_probabilities=True)
    # Input unchanged; every row back, in order, with the input columns first.
    assert candidates.colnames == before.colnames and candidates.meta == before.meta
    for name in before.colnames:
        np.testing.assert_array_equal(candidates[name], before[name])
    assert len(out) == len(candidates)
    assert out.colnames[:4] == ['id', 'x', 'y', 'mag']
    np.testing.assert_array_equal(out['id'], candidates['id'])
    assert out.meta['origin'] == 'test'
    labels = ['compactnet_1', 'compactnet_2', 'resnet18']
    for label in labels:
        assert f'class_{label}' in out.colnames and out[f'prob_{label}'].shape == (12, 4)
    # Flags at the largest stamp (32 px): x=2 and (235, 5) run off the edge,
    # (200, 150) sees the NaN hole, (-50, 10) and NaN are off the image.
    flags = out['class_flag'].tolist()
    assert flags[8] & EDGE and flags[9] & EDGE
    assert flags[5] & NONFIN
    assert flags[10] & OFF and flags[11] & OFF
    assert all(f == 0 for i, f in enumerate(flags) if i not in (5, 8, 9, 10, 11))
    masked = out['class_mode'].mask
    assert masked.tolist() == [f != 0 for f in flags]
    assert out.meta['classification']['n_classified'] == 7
    for label in labels:
        assert out[f'class_{label}'].mask.tolist() == masked.tolist()


def test_classes_match_direct_computation(field, candidates, models):
    out = classify_table(candidates, field, models=models, progress=False,
                         return_probabilities=True, precision='fp32')
    images = load_images(field)
    ok = out['class_flag'] == 0
    probs = []
    for model, label in zip(models, ['compactnet_1', 'compactnet_2', 'resnet18']):
        direct = _direct(model, images, candidates)
        probs.append(direct)
        np.testing.assert_allclose(out[f'prob_{label}'][ok], direct[ok], atol=2e-5)
        np.testing.assert_array_equal(out[f'class_{label}'][ok], direct[ok].argmax(1) + 1)
    # Ensemble columns equal an independent consolidation of the direct results.
    probs = np.stack(probs, axis=1)[ok]
    expected = consolidate(probs.argmax(2) + 1, probs)
    for name in ('class_mode', 'class_quality', 'class_mean', 'class_median', 'class_std'):
        np.testing.assert_allclose(out[name][ok], expected[name], atol=1e-6)
    np.testing.assert_allclose(out['prob_3'][ok], expected['prob_3'], atol=2e-5)


def test_deterministic_and_chunking_invariant(field, candidates, models):
    a = classify_table(candidates, field, models=models[:2], progress=False)
    b = classify_table(candidates, field, models=models[:2], progress=False)
    c = classify_table(candidates, field, models=models[:2], progress=False,
                       chunk_size=3, batch_size=2)
    for name in ('class_compactnet_1', 'class_compactnet_2', 'class_mode', 'prob_1'):
        np.testing.assert_array_equal(a[name].filled(-1), b[name].filled(-1))
        np.testing.assert_allclose(a[name].filled(-1), c[name].filled(-1), atol=1e-5)


def test_skip_flags_controls_edge_rows(field, candidates, models):
    out = classify_table(candidates, field, models=models[:1], progress=False,
                         skip_flags=CutoutFlag.OFF_IMAGE | CutoutFlag.MISSING_BAND)
    mask = out['class_mode'].mask.tolist()
    assert mask[8] is False and mask[9] is False      # edge stamps classified now
    assert mask[10] and mask[11]                       # off the image: never
    with pytest.raises(ValueError, match='skip_flags must be CutoutFlag bits'):
        classify_table(candidates, field, models=models[:1], skip_flags='edge')


def test_sky_positions_with_wcs(field, candidates, models):
    images = load_images(field)
    rows = candidates[:8]
    sky = images.wcs.pixel_to_world(rows['x'], rows['y'])
    by_sky = QTable({'id': rows['id'], 'coord': sky})
    a = classify_table(rows, images, models=models[:1], progress=False)
    b = classify_table(by_sky, images, models=models[:1], progress=False)
    np.testing.assert_array_equal(a['class_mode'], b['class_mode'])
    assert isinstance(b['coord'], SkyCoord)


def test_metadata(field, candidates, models, tmp_path):
    path = tmp_path / 'm.safetensors'
    digest = save_checkpoint(models[0], path)
    out = classify_table(Table(candidates), field, models=[str(path), models[2]],
                         progress=False, precision='fp32', device='cpu')
    assert isinstance(out, QTable)
    assert 'function' not in out.meta  # provenance is per step, under its own key
    meta = out.meta['classification']
    assert meta['function'] == 'classify_table'
    assert {'date', 'version', 'arguments'} <= set(meta)
    assert meta['version']['torch'] == torch.__version__
    assert meta['arguments']['batch_size'] == 32
    assert meta['precision'] == 'fp32' and meta['device'] == 'cpu'
    assert meta['cutout_size'] == 32
    first, second = meta['models']
    assert first['sha256'] == digest and first['source'] == str(path)
    assert first['label'] == 'compactnet' and second['label'] == 'resnet18'
    assert second['sha256'] is None and second['init'] == 'random'
    assert first['normalization'] == {'method': 'asinh', 'softening': 3.0}
    assert first['transform'] == {'size': first['cutout_size'], 'shift': 0.5,
                                  'normalization': first['normalization']}


def test_zero_rows_give_empty_table_with_columns(field, models):
    empty = QTable({'x': np.array([], float), 'y': np.array([], float)})
    out = classify_table(empty, field, models=models[:2], progress=False,
                         return_probabilities=True)
    assert len(out) == 0
    for name in ('class_flag', 'class_compactnet_1', 'class_compactnet_2',
                 'prob_compactnet_1', 'class_mode', 'class_mean', 'class_median',
                 'class_std', 'class_quality', 'prob_1', 'prob_4'):
        assert name in out.colnames
    assert out.meta['classification']['n_classified'] == 0


def test_progress_bar(field, candidates, models, capsys):
    classify_table(candidates, field, models=models[:1], progress=True)
    assert '12/12' in capsys.readouterr().err


def test_bf16_runs_and_mostly_agrees(field, candidates, models):
    a = classify_table(candidates, field, models=models, progress=False, precision='fp32')
    b = classify_table(candidates, field, models=models, progress=False, precision='bf16')
    assert b.meta['classification']['precision'] == 'bf16'
    np.testing.assert_allclose(a['prob_1'].filled(0), b['prob_1'].filled(0), atol=0.05)


def test_bad_inputs(field, candidates, models, tmp_path):
    with pytest.raises(ValueError, match='table has no position columns'):
        classify_table(QTable({'mag': [1.0]}), field, models=models[:1])
    with pytest.raises(ValueError, match=r'exactly 5 bands .*F814W.*got 4'):
        classify_table(candidates, field[:4], models=models[:1])
    no_wcs = dict(zip(BANDS, [h.data for h in field]))
    sky = QTable({'c': SkyCoord([150.0], [2.0], unit='deg')})
    with pytest.raises(ValueError, match='only sky positions'):
        classify_table(sky, no_wcs, models=models[:1])
    with pytest.raises(TypeError, match='tbl must be an astropy Table'):
        classify_table({'x': [1]}, field, models=models[:1])
    with pytest.raises(ValueError, match='batch_size must be a positive integer'):
        classify_table(candidates, field, models=models[:1], batch_size=0)
    with pytest.raises(ValueError, match='chunk_size must be a positive integer'):
        classify_table(candidates, field, models=models[:1], chunk_size=1.5)
    with pytest.raises(ValueError, match="precision='fp8' is not one of"):
        classify_table(candidates, field, models=models[:1], precision='fp8')
    with pytest.raises(ValueError, match='device=.*not a torch device'):
        classify_table(candidates, field, models=models[:1], device='gpu0')
    with pytest.raises(ValueError, match='models is empty'):
        classify_table(candidates, field, models=[])
    with pytest.raises(ValueError, match="unknown model 'resnet50'.*compactnet"):
        classify_table(candidates, field, models='resnet50')
    three = get_model('compactnet', num_classes=3, widths=(8, 16))
    with pytest.raises(ValueError, match=r'classes \[0, 1, 2\], expected \[1, 2, 3, 4\]'):
        classify_table(candidates, field, models=three)
    with pytest.raises(ValueError, match='without .meta'):
        classify_table(candidates, field, models=torch.nn.Linear(2, 2))
    done = classify_table(candidates, field, models=models[:1], progress=False)
    with pytest.raises(ValueError, match="already has the columns .*'class_flag'"):
        classify_table(done, field, models=models[:1])


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only error')
def test_cuda_request_without_gpu(field, candidates, models):
    with pytest.raises(ValueError, match="device='cuda' but no CUDA GPU"):
        classify_table(candidates, field, models=models[:1], device='cuda')


def test_auto_precision_follows_hardware():
    cpu = torch.device('cpu')
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert resolve_precision('auto', cpu)[0] == ('bf16' if native else 'fp32')
    assert resolve_precision('fp32', cpu) == ('fp32', torch.float32)


def test_file_images_pages_released_and_files_closed(small_field_files, models, monkeypatch):
    import astro_clusterclass.classify._pages as pages
    import astro_clusterclass.classify._table as module
    tbl = QTable({'x': [60.0, 150.3, 100.0], 'y': [50.0, 120.7, 80.0]})
    keep = classify_table(tbl, small_field_files, models=models[:1], progress=False)
    released = []
    original = pages.release_pages
    monkeypatch.setattr(pages, 'RELEASE_ABOVE', 0)
    monkeypatch.setattr(pages, 'release_pages',
                        lambda maps: (released.append(len(maps)), original(maps)))
    opened = []
    real_load = module.load_images

    def spy(*args, **kwargs):
        opened.append(real_load(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(module, 'load_images', spy)
    out = classify_table(tbl, small_field_files, models=models[:1], progress=False,
                         chunk_size=1)
    assert released == [5, 5, 5]          # the five band maps, after each chunk
    np.testing.assert_array_equal(out['class_mode'], keep['class_mode'])
    np.testing.assert_allclose(out['prob_2'], keep['prob_2'], atol=1e-6)
    assert opened[0]._keep_open == ()     # the files opened here were closed
    # A BandImages given by the caller is neither released nor closed.
    images = real_load(small_field_files)
    released.clear()
    classify_table(tbl, images, models=models[:1], progress=False)
    assert set(released) <= {0}
    assert len(images._keep_open) == 5
    images.close()

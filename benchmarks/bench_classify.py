"""
Benchmark of `classify_table` with the PHANGS ensemble (10 ResNet18 + 10 VGG19-BN).

Everything is measured in the same run, on the same machine:

1. ceilings: fp32 and bf16 matrix multiplication and 3x3 convolution
   (channels-last, batch 32, 256 → 256 channels at 16 × 16 px: a
   VGG19 middle layer);
2. the fast path: ``classify_table`` on N candidates of a synthetic field
   (FITS files on disk, memory-mapped) with 20 random-weight models loaded
   from safetensors checkpoints, run in a child process so that its peak
   RSS is its own: candidates/s, achieved GFLOP/s (FLOPs counted with
   `torch.utils.flop_counter` on the inference copies) and its ratio to
   each ceiling;
3. the naive path of the published tutorial: one cutout FITS file per
   candidate (`write_cutout_fits`), and for each model (fp32, unfolded,
   no fusion, default memory layout) each file read back
   (`read_cutout_fits`), normalised and classified with batch size 1.
   It is timed on a subset (``--naive-n``) and scaled per candidate;
4. agreement of bf16 with fp32: fraction of per-model classes and of
   ensemble modes that change, on ``--agreement-n`` candidates;
5. memory: a ``--memory-n`` candidate run (default 50 000) in a child
   process; peak RSS from ``os.wait4``.

Random weights give the same FLOPs, memory and speed as trained ones; the
bf16 agreement of random models is a pessimistic estimate (trained models
have larger margins between classes).

Usage::

    python benchmarks/bench_classify.py                 # the full benchmark
    python benchmarks/bench_classify.py --n 300 --memory-n 5000 --memory-models compact

Numbers depend on the machine and on whatever else runs on it.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from astropy.io import fits
from astropy.table import QTable

from astro_clusterclass.bands import BANDS
from astro_clusterclass.classify import classify_table, resolve_precision
from astro_clusterclass import make_cutouts, read_cutout_fits, write_cutout_fits
from astro_clusterclass.models import (get_model, load_model, prepare_for_inference,
                                       save_checkpoint)
from astro_clusterclass.preprocessing import StampNormalization


# ----------------------------------------------------------------------------
# Synthetic field
# ----------------------------------------------------------------------------

def make_field(directory, n, *, density=1600.0, seed=0):
    """
    Five FITS bands with ``n`` sources (stars, clusters, pairs) and a catalogue.

    Returns the band paths and the catalogue path (ECSV, 0-based x/y).
    """
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n * density)))
    margin = 40
    x = rng.uniform(margin, side - margin, n)
    y = rng.uniform(margin, side - margin, n)
    kind = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])      # star, cluster, pair
    sigma = np.where(kind == 1, rng.uniform(1.2, 2.5, n), 0.9)
    amp = rng.lognormal(0.0, 1.0, n)
    color = rng.uniform(0.3, 1.5, (len(BANDS), n))
    # Pairs get a companion 2-4 px away.
    comp = kind == 2
    angle = rng.uniform(0, 2 * np.pi, n)
    dist = rng.uniform(2, 4, n)
    sx = np.concatenate([x, (x + dist * np.cos(angle))[comp]])
    sy = np.concatenate([y, (y + dist * np.sin(angle))[comp]])
    ss = np.concatenate([sigma, sigma[comp]])
    sa = np.concatenate([amp, 0.7 * amp[comp]])
    sc = np.concatenate([color, color[:, comp]], axis=1)
    half = 6
    off = np.arange(-half, half + 1)
    ix = np.floor(sx + 0.5).astype(np.int64)
    iy = np.floor(sy + 0.5).astype(np.int64)
    yy = iy[:, None, None] + off[None, :, None]
    xx = ix[:, None, None] + off[None, None, :]
    profile = np.exp(-((xx - sx[:, None, None]) ** 2 + (yy - sy[:, None, None]) ** 2)
                     / (2 * ss[:, None, None] ** 2)).astype(np.float32)
    flat = (yy * side + xx).ravel()
    paths = []
    for b, band in enumerate(BANDS):
        image = rng.normal(0.0, 0.02, size=side * side).astype(np.float32)
        np.add.at(image, flat, (profile * (sa * sc[b])[:, None, None]).ravel())
        image = image.reshape(side, side)
        image += np.float32(0.05 * (b + 1))
        hdu = fits.PrimaryHDU(image)
        hdu.header['FILTER'] = band
        hdu.header['SIMULATE'] = (True, 'synthetic benchmark field')
        path = os.path.join(directory, f'band_{band.lower()}.fits')
        hdu.writeto(path, overwrite=True)
        paths.append(path)
        del image, hdu
    catalog = os.path.join(directory, 'catalog.ecsv')
    jitter = rng.normal(0, 0.2, (2, n))
    QTable({'id': np.arange(n), 'x': x + jitter[0], 'y': y + jitter[1]}).write(
        catalog, overwrite=True)
    return paths, catalog


# ----------------------------------------------------------------------------
# Ceilings and FLOPs
# ----------------------------------------------------------------------------

def _best_time(fn, repeat=5):
    fn()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def ceilings(names=('fp32', 'bf16')):
    """
    Best GFLOP/s of fp32/bf16 matmul and 3x3 convolution on this machine, now.

    Convolutions: channels-last, batch 32, C -> C channels for the VGG19
    layer shapes (128, 32 px), (256, 16 px), (512, 8 px); matmul: square
    2048 and 4096. The best shape of each kind is the ceiling. ``names``:
    the precisions to measure.
    """
    out = {}
    dtypes = {'fp32': torch.float32, 'bf16': torch.bfloat16}
    for name, dtype in ((name, dtypes[name]) for name in names):
        best = 0.0
        for n in (2048, 4096):
            a = torch.randn(n, n, dtype=dtype)
            b = torch.randn(n, n, dtype=dtype)
            best = max(best, 2 * n ** 3 / _best_time(lambda: a @ b, repeat=3) / 1e9)
        out[f'matmul_{name}'] = best
        best = 0.0
        for channels, side in ((128, 32), (256, 16), (512, 8)):
            x = torch.randn(32, channels, side, side, dtype=dtype).contiguous(
                memory_format=torch.channels_last)
            conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(dtype).to(
                memory_format=torch.channels_last)
            with torch.inference_mode():
                flops = 2 * 32 * channels * channels * 9 * side * side
                best = max(best, flops / _best_time(lambda: conv(x)) / 1e9)
        out[f'conv3x3_{name}'] = best
    return out


def flops_per_stamp(model, size, dtype):
    """FLOPs of one stamp through the inference copy of ``model``."""
    from torch.utils.flop_counter import FlopCounterMode
    module = prepare_for_inference(model, input_size=size, dtype=dtype)
    x = torch.zeros(1, len(BANDS), size, size, dtype=dtype).contiguous(
        memory_format=torch.channels_last)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


# ----------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------

def make_models(directory, n_resnet, n_vgg, size, compact=0):
    """Random-weight checkpoints (one model in memory at a time); their paths and FLOPs."""
    os.makedirs(directory, exist_ok=True)
    paths, flops = [], {}
    specs = ([('resnet18', i) for i in range(n_resnet)] + [('vgg19_bn', i) for i in range(n_vgg)]
             + [('compactnet', i) for i in range(compact)])
    for arch, seed in specs:
        path = os.path.join(directory, f'{arch}_{seed}_{size}px.safetensors')
        paths.append(path)
        if os.path.exists(path) and arch in flops:
            continue  # reused from an earlier run with --workdir
        torch.manual_seed(seed)
        model = get_model(arch, cutout_size=size)
        if not os.path.exists(path):
            save_checkpoint(model, path, meta={'training': {
                'note': 'random weights (benchmark)', 'seed': seed}})
        if arch not in flops:
            flops[arch] = flops_per_stamp(model.eval(), size, torch.float32)
        del model
    return paths, flops


# ----------------------------------------------------------------------------
# Child processes (fast path and memory run)
# ----------------------------------------------------------------------------

def child(args):
    """Run classify_table once and print a JSON summary (called in a subprocess)."""
    tbl = QTable.read(args.catalog)
    start = time.perf_counter()
    out = classify_table(tbl, args.bands, models=args.models, precision=args.precision,
                         batch_size=args.batch_size, chunk_size=args.chunk_size,
                         progress=args.progress)
    wall = time.perf_counter() - start
    if args.save_classes:
        out[['id', 'class_mode']].write(args.save_classes, overwrite=True)
    print('RESULT ' + json.dumps({'wall_s': wall, 'n': len(out),
                                  'n_classified': out.meta['classification']['n_classified'],
                                  'precision': out.meta['classification']['precision'],
                                  'timing': out.meta['classification']['timing']}))


def run_child(bands, catalog, models, *, precision, batch_size, chunk_size, progress=False,
              save_classes=None):
    """Run `child` in a fresh process; returns its summary and peak RSS (bytes)."""
    cmd = [sys.executable, os.path.abspath(__file__), '--child', '--catalog', catalog,
           '--precision', precision, '--batch-size', str(batch_size),
           '--chunk-size', str(chunk_size), '--bands', *bands, '--models', *models]
    if progress:
        cmd.append('--progress')
    if save_classes:
        cmd += ['--save-classes', save_classes]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    stdout_lines = []
    # Read before waiting so that a full pipe never blocks the child.
    for line in proc.stdout:
        stdout_lines.append(line)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f'child failed ({proc.returncode}): {"".join(stdout_lines)}')
    result = next(json.loads(line[7:]) for line in stdout_lines if line.startswith('RESULT '))
    result['peak_rss_bytes'] = usage.ru_maxrss * 1024  # Linux reports KiB
    return result


# ----------------------------------------------------------------------------
# Naive path and bf16 agreement
# ----------------------------------------------------------------------------

def naive(bands, catalog, model_paths, n, directory, size):
    """Seconds per candidate of the tutorial-style path, on the first ``n`` candidates."""
    tbl = QTable.read(catalog)[:n]
    start = time.perf_counter()
    stamps = make_cutouts(bands, tbl, size=size)
    files = write_cutout_fits(stamps, directory, overwrite=True)
    io_time = time.perf_counter() - start
    infer_time = 0.0
    classes = np.zeros((n, len(model_paths)), dtype=int)
    for j, path in enumerate(model_paths):
        model = load_model(path).float()      # fp32, unfolded, unfused, NCHW
        norm = StampNormalization.from_dict(model.meta['normalization'])
        start = time.perf_counter()
        with torch.inference_mode():
            for i, name in enumerate(files):
                cut = read_cutout_fits([name])
                x = norm(torch.from_numpy(cut.data))
                classes[i, j] = int(model(x).argmax(1)[0]) + 1
        infer_time += time.perf_counter() - start
        del model
    return (io_time + infer_time) / n, classes


def agreement(bands, catalog, model_paths, n):
    """Fractions of classes changed by bf16 relative to fp32 on the first n candidates."""
    tbl = QTable.read(catalog)[:n]
    runs = {p: classify_table(tbl, bands, models=model_paths, precision=p, progress=False,
                              return_probabilities=True) for p in ('fp32', 'bf16')}
    a, b = runs['fp32'], runs['bf16']
    ok = ~a['class_mode'].mask
    per_arch = {}
    labels = [m['label'] for m in a.meta['classification']['models']]
    for label in labels:
        arch = label.rsplit('_', 1)[0] if label[-1].isdigit() else label
        changed = np.asarray(a[f'class_{label}'][ok] != b[f'class_{label}'][ok])
        per_arch.setdefault(arch, []).append(changed)
    out = {arch: float(np.mean(np.concatenate(v))) for arch, v in per_arch.items()}
    out['ensemble_mode'] = float(np.mean(np.asarray(a['class_mode'][ok] != b['class_mode'][ok])))
    out['max_prob_diff'] = float(max(np.max(np.abs(a[f'prob_{lb}'][ok] - b[f'prob_{lb}'][ok]))
                                     for lb in labels))
    out['n'] = int(ok.sum())
    return out


# ----------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=3000, help='candidates of the timed run')
    parser.add_argument('--size', type=int, default=64, help='cutout size (px)')
    parser.add_argument('--n-resnet', type=int, default=10)
    parser.add_argument('--n-vgg', type=int, default=10)
    parser.add_argument('--precision', default='auto')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--chunk-size', type=int, default=1024)
    parser.add_argument('--naive-n', type=int, default=20,
                        help='candidates of the naive path (timed on this subset)')
    parser.add_argument('--agreement-n', type=int, default=64,
                        help='candidates for the bf16-vs-fp32 agreement (0: skip)')
    parser.add_argument('--memory-n', type=int, default=50000,
                        help='candidates of the memory run (0: skip)')
    parser.add_argument('--memory-models', choices=('ensemble', 'compact'), default='ensemble',
                        help='models of the memory run: the same 20-model ensemble, or '
                             'one CompactNet (quick)')
    parser.add_argument('--workdir', default=None, help='keep files here (default: temporary)')
    # Child-process options.
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--catalog', help=argparse.SUPPRESS)
    parser.add_argument('--bands', nargs=5, help=argparse.SUPPRESS)
    parser.add_argument('--models', nargs='+', help=argparse.SUPPRESS)
    parser.add_argument('--progress', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--save-classes', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    work = args.workdir or tempfile.mkdtemp(prefix='bench_classify_')
    try:
        return _benchmark(args, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _benchmark(args, work):
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'cpu bf16 native: {resolve_precision("auto", torch.device("cpu"))[0] == "bf16"}, '
          f'cuda: {torch.cuda.is_available()}')
    ceil = ceilings()
    print('ceilings (GFLOP/s): ' + ', '.join(f'{k} {v:.0f}' for k, v in ceil.items()))

    t0 = time.perf_counter()
    bands, catalog = make_field(os.path.join(work, f'field_{args.n}'), args.n, seed=0)
    models, flops = make_models(os.path.join(work, 'models'), args.n_resnet, args.n_vgg,
                                args.size)
    print(f'field of {args.n} candidates and {len(models)} checkpoints made in '
          f'{time.perf_counter() - t0:.0f} s; GFLOP per {args.size} px stamp: '
          + ', '.join(f'{k} {v / 1e9:.3f}' for k, v in flops.items()))

    fast = run_child(bands, catalog, models, precision=args.precision,
                     batch_size=args.batch_size, chunk_size=args.chunk_size, progress=True)
    n_done = fast['n_classified']
    total_flops = n_done * (args.n_resnet * flops.get('resnet18', 0)
                            + args.n_vgg * flops.get('vgg19_bn', 0))
    classify_s = fast['timing']['classify_s']
    achieved = total_flops / classify_s / 1e9
    print(f'\nfast path ({fast["precision"]}, batch {args.batch_size}): {args.n} candidates '
          f'({n_done} classified) in {fast["wall_s"]:.1f} s '
          f'(models {fast["timing"]["models_s"]:.1f} s + classification {classify_s:.1f} s)')
    print(f'  {args.n / fast["wall_s"]:.1f} candidates/s end to end, '
          f'{n_done / classify_s:.1f} candidates/s classifying; '
          f'peak RSS {fast["peak_rss_bytes"] / 2 ** 30:.2f} GiB')
    again = ceilings()
    print('ceilings after the fast run (GFLOP/s): '
          + ', '.join(f'{k} {v:.0f}' for k, v in again.items()))
    ceil = {k: max(v, again[k]) for k, v in ceil.items()}
    print(f'  achieved {achieved:.0f} GFLOP/s = '
          + ', '.join(f'{achieved / v:.0%} of {k}' for k, v in ceil.items())
          + ' (best ceilings of the two measurements)')

    if args.naive_n:
        per_cand, _ = naive(bands, catalog, models, args.naive_n,
                            os.path.join(work, 'naive'), args.size)
        fast_per_cand = fast['wall_s'] / args.n
        print(f'\nnaive path (batch 1, fp32, one FITS file per candidate), timed on '
              f'{args.naive_n} candidates: {per_cand:.2f} s per candidate '
              f'-> {per_cand * args.n / 60:.1f} min for {args.n}')
        print(f'  speed-up of the fast path (end to end, models loading included): '
              f'{per_cand / fast_per_cand:.1f}x')

    if args.agreement_n:
        agree = agreement(bands, catalog, models, args.agreement_n)
        print(f'\nbf16 vs fp32 on {agree["n"]} candidates (random weights): classes changed '
              + ', '.join(f'{k} {v:.2%}' for k, v in agree.items()
                          if k not in ('n', 'max_prob_diff'))
              + f'; max |dprob| {agree["max_prob_diff"]:.3f}')

    if args.memory_n:
        t0 = time.perf_counter()
        mbands, mcatalog = make_field(os.path.join(work, f'field_{args.memory_n}'),
                                      args.memory_n, seed=1)
        if args.memory_models == 'compact':
            mmodels, _ = make_models(os.path.join(work, 'models_compact'), 0, 0, args.size,
                                     compact=1)
        else:
            mmodels = models
        print(f'\nmemory run: field of {args.memory_n} candidates made in '
              f'{time.perf_counter() - t0:.0f} s; classifying with {len(mmodels)} model(s)')
        mem = run_child(mbands, mcatalog, mmodels, precision=args.precision,
                        batch_size=args.batch_size, chunk_size=args.chunk_size, progress=True)
        print(f'  {args.memory_n} candidates in {mem["wall_s"]:.0f} s; peak RSS '
              f'{mem["peak_rss_bytes"] / 2 ** 30:.2f} GiB')


if __name__ == '__main__':
    main()

"""
Peer benchmark: the PHANGS 20-model ensemble through `classify_table` against StarcNet's own loop.

Everything in one run, on the same machine and the same candidates (a
synthetic field of FITS files, memory-mapped, made by
``bench_classify.make_field``):

1. ceilings: 3 × 3 convolutions (channels-last, batch 32, the VGG19 layer
   shapes of ``bench_classify.ceilings``) in fp32 (and bf16), and the same
   shapes as int8 quantized convolutions (the kernels ``precision='int8'``
   runs);
2. StarcNet's own inference loop as its scripts run it
   (``bench_starcnet.starcnet_loop``: fp32, eager, NCHW, batch 64, its
   32 px stamps cut from the band arrays and already in memory);
3. ``classify_table`` with the 20-model ensemble (10 ResNet18 + 10
   VGG19-BN at 32 px), given as an `Ensemble` prepared once (its loading,
   and the int8 calibration, timed apart and added for the end-to-end
   figures): fp32, bf16 where the CPU computes it natively, and int8 when
   the int8 check accepts it. By default the members are ten copies of one
   ResNet18 and ten of one VGG19-BN trained briefly here on simulated
   fields (``--train-batches``; int8 is meant for trained models, whose
   classes have margins: random weights make most stamps close calls and
   int8 is refused for them); ``--weights random`` uses twenty
   random-weight checkpoints as ``bench_classify.make_models`` writes
   them. Copies or not, the work per stamp is the same;
4. ``classify_table`` with the StarcNet network imported with
   `import_checkpoint` (fp32, and int8 when accepted);
5. a 100-candidate job from the checkpoint files (loading included), the
   latency a small job sees;
6. peak memory of ``classify_table`` with the ensemble in child processes
   at two catalogue sizes (``--memory-n``, measured first, before this
   process holds any ensemble): flat in N means the 50 000 figure is the
   same;
7. with a CUDA GPU: the ensemble on the GPU in bf16 for ``--n`` and
   ``--gpu-n`` candidates and the fraction of the GPU's measured bf16
   matmul rate.

The timed configurations of 2-4 alternate over ``--repeat`` rounds: the
best of each is the figure, the worst shows the noise of a shared machine.
FLOPs are those of the fp32 inference copies (`torch.utils.flop_counter`),
so int8 and fp32 rates compare the same work.

Usage::

    nice -n 10 python benchmarks/bench_peer.py                  # 160 candidates, ~5 min
    nice -n 10 python benchmarks/bench_peer.py --n 3000 --repeat 1 --memory-n 1000 4000
    nice -n 10 python benchmarks/bench_peer.py --n 300 --memory-n 50000   # the 50 000 figure

Numbers depend on the machine and on whatever else runs on it.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from astropy.io import fits
from astropy.table import QTable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_classify import (_best_time, ceilings, flops_per_stamp, make_field,  # noqa: E402
                            make_models, run_child)
from bench_starcnet import random_starcnet, starcnet_loop, starcnet_stamps  # noqa: E402

from astro_clusterclass import make_cutouts  # noqa: E402
from astro_clusterclass.classify import (Ensemble, QuantizationRefusedError,  # noqa: E402
                                         classify_table, native_bf16)
from astro_clusterclass.classify import _ensemble as engine  # noqa: E402
from astro_clusterclass.models import import_checkpoint  # noqa: E402


def int8_ceiling():
    """Best GFLOP/s of int8 quantized 3 × 3 convolutions (the shapes of `ceilings`)."""
    from astro_clusterclass.classify import quantization_engine
    from astro_clusterclass.classify._quantize import _quiet
    engine = quantization_engine(torch.device('cpu'))
    best = 0.0
    with _quiet(engine), torch.inference_mode():
        for channels, side in ((128, 32), (256, 16), (512, 8)):
            x = torch.rand(32, channels, side, side).contiguous(
                memory_format=torch.channels_last)
            qx = torch.quantize_per_tensor(x, 1 / 127, 0, torch.quint8)
            conv = torch.ao.nn.quantized.Conv2d(channels, channels, 3, padding=1, bias=False)
            weight = torch.randn(channels, channels, 3, 3)
            qw = torch.quantize_per_channel(weight, torch.full((channels,), 0.02),
                                            torch.zeros(channels, dtype=torch.long), 0,
                                            torch.qint8)
            conv.set_weight_bias(qw, None)
            conv.scale, conv.zero_point = 0.05, 0
            flops = 2 * 32 * channels * channels * 9 * side * side
            best = max(best, flops / _best_time(lambda: conv(qx)) / 1e9)
    return best


def trained_models(directory, size, n_batches):
    """One ResNet18 and one VGG19-BN trained on simulated fields (reused from ``directory``)."""
    from astro_clusterclass.models import load_model
    from astro_clusterclass.training import simulated_training_set, train_model
    os.makedirs(directory, exist_ok=True)
    paths = {arch: os.path.join(directory, f'{arch}_{size}px_{n_batches}.safetensors')
             for arch in ('resnet18', 'vgg19_bn')}
    if not all(os.path.exists(p) for p in paths.values()):
        tset = simulated_training_set([(101, 6), (102, 10), (103, 14)], size=size,
                                      shape=(1500, 1500), n_candidates=900, progress=False)
        for arch, path in paths.items():
            if not os.path.exists(path):
                start = time.perf_counter()
                result = train_model(tset, architecture=arch, n_batches=n_batches,
                                     lr=1e-3, progress=False, seed=0, output=path,
                                     device='cpu')
                print(f'  trained {arch} ({n_batches} batches of 32) in '
                      f'{time.perf_counter() - start:.0f} s: test accuracy '
                      f'{result.evaluation.accuracy:.2f}')
    flops = {arch: flops_per_stamp(load_model(path).eval(), size, torch.float32)
             for arch, path in paths.items()}
    return paths, flops


def flops_of(module, size):
    """FLOPs of one stamp through ``module`` (fp32)."""
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.zeros(1, 5, size, size)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


def timed_table(tbl, bands, ensemble, batch_size, before=False):
    """
    ``classify_table`` with a prepared ensemble; (seconds, output).

    ``before``: as the engine ran before this benchmark's changes (members
    one at a time on all threads, every architecture in batches of
    ``batch_size``).
    """
    saved = dict(engine._MIN_BATCH), ensemble.member_threads
    if before:
        engine._MIN_BATCH.clear()
        ensemble.member_threads = 1
    try:
        start = time.perf_counter()
        out = classify_table(tbl, bands, models=ensemble, batch_size=batch_size,
                             progress=False)
        return time.perf_counter() - start, out
    finally:
        engine._MIN_BATCH.update(saved[0])
        ensemble.member_threads = saved[1]


def build(paths, precision, calibration=None, device='cpu'):
    """An Ensemble and the seconds it took (int8: calibration included, and timed apart)."""
    start = time.perf_counter()
    ensemble = Ensemble(paths, device=device, precision=precision)
    loaded = time.perf_counter() - start
    if calibration is not None:
        bands, tbl = calibration
        ensemble.calibrate_int8(make_cutouts(bands, tbl, size=ensemble.stamp_size),
                                source='benchmark calibration field')
    return ensemble, loaded, time.perf_counter() - start - loaded


def classes_changed(a, b):
    """Fraction of per-model classes and ensemble modes of ``b`` that differ from ``a``."""
    ok = ~a['class_mode'].mask & ~b['class_mode'].mask
    labels = [m['label'] for m in a.meta['classification']['models']]
    per_model = np.mean([np.mean(np.asarray(a[f'class_{lb}'][ok] != b[f'class_{lb}'][ok]))
                         for lb in labels])
    mode = np.mean(np.asarray(a['class_mode'][ok] != b['class_mode'][ok]))
    return float(per_model), float(mode), int(ok.sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=160, help='candidates of the timed runs')
    parser.add_argument('--size', type=int, default=32, help='stamp size of the ensemble')
    parser.add_argument('--n-resnet', type=int, default=10)
    parser.add_argument('--n-vgg', type=int, default=10)
    parser.add_argument('--weights', choices=('trained', 'random'), default='trained',
                        help='members: copies of two briefly trained models, or random weights')
    parser.add_argument('--train-batches', type=int, default=150,
                        help='training batches of each trained model')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='batch size of classify_table (StarcNet\'s loop uses 64)')
    parser.add_argument('--repeat', type=int, default=2,
                        help='interleaved rounds of the timed runs; best and worst printed')
    parser.add_argument('--calibration-n', type=int, default=512,
                        help='stamps of the int8 calibration field (0: no int8)')
    parser.add_argument('--small-n', type=int, default=100,
                        help='candidates of the small-job latency run (0: skip)')
    parser.add_argument('--memory-n', type=int, nargs='*', default=[300, 1200],
                        help='catalogue sizes of the peak-memory child runs (none: skip)')
    parser.add_argument('--gpu-n', type=int, default=50000,
                        help='candidates of the large GPU run (only with a GPU)')
    parser.add_argument('--workdir', default=None, help='keep files here (default: temporary)')
    parser.add_argument('--profile', action='store_true',
                        help='only profile where the time of the networks goes (32, 64 px)')
    args = parser.parse_args(argv)
    if args.profile:
        sys.stdout.reconfigure(line_buffering=True)
        return profile()
    sys.stdout.reconfigure(line_buffering=True)   # progress lines as they come, in logs too
    work = args.workdir or tempfile.mkdtemp(prefix='bench_peer_')
    try:
        return _benchmark(args, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _benchmark(args, work):
    cpu = torch.device('cpu')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: '
          f'{native_bf16(cpu)}, quantized engines: {torch.backends.quantized.supported_engines}, '
          f'cuda: {torch.cuda.is_available()}')
    # Emulated bf16 (no native support) is not a ceiling of anything the engine runs.
    ceil = ceilings(('fp32', 'bf16') if native_bf16(cpu) else ('fp32',))
    ceil['conv3x3_int8'] = int8_ceiling()
    print('ceilings (GFLOP/s): ' + ', '.join(f'{k} {v:.0f}' for k, v in ceil.items()))

    t0 = time.perf_counter()
    bands, catalog = make_field(os.path.join(work, 'field'), args.n, seed=0)
    tbl = QTable.read(catalog)
    if args.weights == 'random':
        paths, flops = make_models(os.path.join(work, 'models'), args.n_resnet, args.n_vgg,
                                   args.size)
    else:
        trained, flops = trained_models(os.path.join(work, 'trained'), args.size,
                                        args.train_batches)
        paths = [trained['resnet18']] * args.n_resnet + [trained['vgg19_bn']] * args.n_vgg
    net = random_starcnet(0)
    torch.save(net.state_dict(), os.path.join(work, 'starcnet.pth'))
    starcnet_path = os.path.join(work, 'starcnet.safetensors')
    import_checkpoint(os.path.join(work, 'starcnet.pth'), source='starcnet',
                      output=starcnet_path, overwrite=True)
    flops['starcnet'] = flops_of(net, 32)
    data = [fits.getdata(path) for path in bands]
    theirs = starcnet_stamps(data, tbl['x'], tbl['y'])
    del data
    ens_flops = args.n_resnet * flops.get('resnet18', 0) + args.n_vgg * flops.get('vgg19_bn', 0)
    print(f'{args.n} candidates and the checkpoints ({args.weights} weights) made in '
          f'{time.perf_counter() - t0:.0f} s; GFLOP per stamp: '
          + ', '.join(f'{k} {v / 1e9:.3f}' for k, v in flops.items())
          + f'; ensemble {ens_flops / 1e9:.2f} ({ens_flops / flops["starcnet"]:.2f}x StarcNet)')

    # Memory first: a child's peak RSS counts the parent's pages until it execs, so
    # the parent must not hold the prepared ensembles yet.
    for n_mem in args.memory_n or ():
        mbands, mcatalog = make_field(os.path.join(work, f'memory_{n_mem}'), n_mem, seed=2)
        mem = run_child(mbands, mcatalog, paths, precision='fp32',
                        batch_size=args.batch_size, chunk_size=1024)
        print(f'peak memory, {len(paths)}-model ensemble fp32, {n_mem} candidates: '
              f'{mem["peak_rss_bytes"] / 2 ** 30:.2f} GiB ({mem["wall_s"]:.0f} s)')
        shutil.rmtree(os.path.join(work, f'memory_{n_mem}'), ignore_errors=True)

    # Calibration stamps for int8: another field, so the timed job is not the calibration set.
    calibration = None
    if args.calibration_n:
        cbands, ccatalog = make_field(os.path.join(work, 'calibration'), args.calibration_n,
                                      seed=1)
        calibration = (cbands, QTable.read(ccatalog))

    precisions = ['fp32'] + (['bf16'] if native_bf16(cpu) else [])
    runs, builds, refused = {}, {}, {}
    for precision in precisions + (['int8'] if calibration is not None else []):
        try:
            ensemble, load_s, cal_s = build(paths, precision,
                                            calibration if precision == 'int8' else None)
        except QuantizationRefusedError as exc:
            refused[f'ensemble {precision}'] = str(exc)
            continue
        builds[f'ensemble {precision}'] = (load_s, cal_s, ensemble)
    for precision in ('fp32', 'int8') if calibration is not None else ('fp32',):
        try:
            ensemble, load_s, cal_s = build(
                [starcnet_path], precision, calibration if precision == 'int8' else None)
        except QuantizationRefusedError as exc:
            refused[f'StarcNet engine {precision}'] = str(exc)
            continue
        builds[f'StarcNet engine {precision}'] = (load_s, cal_s, ensemble)
    for name, text in refused.items():
        print(f'{name}: {text}')
    for name, (load_s, cal_s, ensemble) in builds.items():
        print(f'{name}: models loaded and prepared in {load_s:.1f} s'
              + (f', int8 calibrated and checked in {cal_s:.1f} s (agreement with fp32 on '
                 f'{ensemble.int8["n_stamps"]} check stamps: worst '
                 f'{100 * ensemble.int8["worst"]:.2f} %, ensemble mode '
                 f'{100 * ensemble.int8["mode"]:.2f} %; close calls recomputed in fp32: up to '
                 f'{100 * max(ensemble.int8["fallback"].values()):.1f} %)'
                 if ensemble.int8 else ''))

    runs['StarcNet own loop (fp32, eager, NCHW, batch 64)'] = lambda: (
        _seconds(lambda: starcnet_loop(net, theirs)))
    for name, (_, _, ensemble) in builds.items():
        runs[f'classify_table, {name}'] = (
            lambda e=ensemble: timed_table(tbl, bands, e, args.batch_size))
        if name == 'ensemble fp32':
            runs['classify_table, ensemble fp32 as before'] = (
                lambda e=ensemble: timed_table(tbl, bands, e, args.batch_size, before=True))
    # Warm-up outside the timings (oneDNN primitives, first-touch of the pages).
    starcnet_loop(net, theirs[:8])
    for name, (_, _, ensemble) in builds.items():
        classify_table(tbl[:8], bands, models=ensemble, progress=False)
    best = {name: np.inf for name in runs}
    worst = {name: 0.0 for name in runs}
    outputs = {}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            seconds, outputs[name] = fn()
            best[name], worst[name] = min(best[name], seconds), max(worst[name], seconds)
    base_name = next(iter(runs))
    base = best[base_name]
    print(f'\n{len(tbl)} candidates, best (worst) of {args.repeat} interleaved rounds:')
    for name in runs:
        work_flops = (flops['starcnet'] if 'StarcNet' in name else ens_flops) * len(tbl)
        rate = work_flops / best[name] / 1e9
        kind = 'conv3x3_int8' if 'int8' in name else (
            'conv3x3_bf16' if 'bf16' in name else 'conv3x3_fp32')
        print(f'  {name:52s} {best[name]:7.2f} s ({worst[name]:7.2f})  '
              f'{1e3 * best[name] / len(tbl):6.1f} ms/cand  {rate:5.0f} GFLOP/s = '
              f'{rate / ceil[kind]:4.0%} of {kind}  ratio to StarcNet own {best[name] / base:.2f}')
    print('  (the ratio ensemble / StarcNet-own target is <= 0.5; "as before": members one at '
          'a time on all threads, ResNet18 in batches of --batch-size)')
    for name, (load_s, cal_s, _) in builds.items():
        if 'StarcNet' in name:
            continue
        key = f'classify_table, {name}'
        per = best[key] / len(tbl)
        print(f'  end to end {name}: loading {load_s:.1f} s + calibration {cal_s:.1f} s + '
              f'{per * 1e3:.1f} ms per candidate; for 3000 candidates '
              f'{load_s + cal_s + 3000 * per:.0f} s against StarcNet own '
              f'{3000 * base / len(tbl):.0f} s (ratio '
              f'{(load_s + cal_s + 3000 * per) / (3000 * base / len(tbl)):.2f})')

    start = time.perf_counter()
    make_cutouts(bands, tbl, size=args.size)
    cut_s = time.perf_counter() - start
    ref = outputs.get('classify_table, ensemble fp32')
    if ref is not None:
        timing = ref.meta['classification']['timing']
        print(f'  around the networks (ensemble fp32): cutting {len(tbl)} stamps from the FITS '
              f'files {cut_s:.2f} s, building the result columns (consolidation) '
              f'{timing["results_s"]:.2f} s, of {best["classify_table, ensemble fp32"]:.2f} s')
    for name in runs:
        if name.startswith('classify_table, ensemble') and ref is not None \
                and name != 'classify_table, ensemble fp32':
            per_model, mode, n_ok = classes_changed(ref, outputs[name])
            print(f'  {name} against fp32 on {n_ok} candidates: classes changed '
                  f'{100 * per_model:.2f} % per model, ensemble modes {100 * mode:.2f} %')
    sc = outputs.get('classify_table, StarcNet engine fp32')
    if sc is not None:
        p_own = outputs[base_name]
        p_engine = np.stack([np.asarray(sc[f'prob_{k}']) for k in (1, 2, 3, 4)], axis=1)
        print(f'  max |p(engine StarcNet fp32) - p(StarcNet own)| = '
              f'{np.abs(p_engine - p_own).max():.2e}')

    if args.small_n:
        small = tbl[:args.small_n]
        prepared = builds['ensemble fp32'][2]
        times = {'now': [], 'as before': []}
        for _ in range(max(args.repeat, 3)):
            for key in times:
                times[key].append(timed_table(small, bands, prepared, args.batch_size,
                                              before=key != 'now')[0])
        start = time.perf_counter()
        classify_table(small, bands, models=paths, precision='fp32',
                       batch_size=args.batch_size, progress=False)
        from_files = time.perf_counter() - start
        print(f'\nsmall job, {args.small_n} candidates, ensemble fp32 prepared: '
              + ', '.join(f'{k} best {min(v):.2f} s (worst {max(v):.2f} s)'
                          for k, v in times.items())
              + f'; from the checkpoint files (loading included) {from_files:.1f} s')

    if torch.cuda.is_available():
        gpu(args, work, tbl, bands, paths, ens_flops)
    else:
        print('\nno CUDA GPU: the GPU figures (3000 and 50 000 candidates, fraction of the '
              'bf16 peak) are not measured in this run')


def profile(sizes=(32, 64), n=128):
    """
    Where the time goes: torch.profiler over one ResNet18 and one VGG19-BN inference copy.

    Per architecture and stamp size: the share of self CPU time of the
    operator kinds (convolutions, linear layers, pooling, layout copies,
    softmax). The main run prints the time of cutting the stamps and of
    building the result columns (consolidation) beside the networks'.
    """
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from astro_clusterclass.models import get_model, prepare_for_inference
    print('\nprofile (self CPU time by operator, batch 32):')
    for size in sizes:
        for arch in ('resnet18', 'vgg19_bn'):
            torch.manual_seed(0)
            fast = prepare_for_inference(get_model(arch, cutout_size=size).eval(),
                                         input_size=size)
            x = torch.randn(n, 5, size, size).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                fast(x[:32])
                with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                    for b in range(0, n, 32):
                        torch.softmax(fast(x[b:b + 32]), dim=1)
            events = prof.key_averages()
            total = sum(e.self_cpu_time_total for e in events)
            kinds = {}
            for e in events:
                name = e.key
                kind = ('convolution' if 'conv' in name or 'mkldnn' in name else
                        'linear' if name in ('aten::addmm', 'aten::mm', 'aten::linear') else
                        'pooling' if 'pool' in name else
                        'layout/copy' if name in ('aten::copy_', 'aten::contiguous',
                                                  'aten::clone', 'aten::to') else
                        'relu/add' if name in ('aten::relu_', 'aten::relu', 'aten::add_',
                                               'aten::add', 'aten::clamp_min_') else
                        'softmax' if 'softmax' in name else 'other')
                kinds[kind] = kinds.get(kind, 0) + e.self_cpu_time_total
            print(f'  {arch:9s} {size} px: ' + ', '.join(
                f'{k} {v / total:.0%}' for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))


def _seconds(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def gpu(args, work, tbl, bands, paths, ens_flops):
    """The ensemble on the GPU in bf16: times and the fraction of the bf16 matmul rate."""
    dev = torch.device('cuda')
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)

    def mm():
        a @ b
        torch.cuda.synchronize()
    peak = 2 * 8192 ** 3 / _best_time(mm) / 1e9
    ensemble = Ensemble(paths, device=dev, precision='bf16')
    classify_table(tbl[:64], bands, models=ensemble, batch_size=256, progress=False)
    for n, (cbands, ccat) in ((len(tbl), (bands, None)),
                              (args.gpu_n, make_field(os.path.join(work, 'gpu'), args.gpu_n,
                                                      seed=3))):
        table = tbl if ccat is None else QTable.read(ccat)
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            classify_table(table, cbands, models=ensemble, batch_size=256, progress=False)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        rate = ens_flops * n / seconds / 1e9
        print(f'GPU ({torch.cuda.get_device_name(dev)}), ensemble bf16, {n} candidates: '
              f'{seconds:.1f} s, {rate:.0f} GFLOP/s = {rate / peak:.1%} of the measured bf16 '
              f'matmul rate ({peak:.0f} GFLOP/s); GPU memory peak '
              f'{torch.cuda.max_memory_allocated(dev) / 2 ** 30:.2f} GiB')


if __name__ == '__main__':
    main()

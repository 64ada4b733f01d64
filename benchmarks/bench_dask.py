"""
Benchmark of `classify_catalog_dask`: throughput with 1 and 2 workers, against `classify_table`.

Everything is measured in the same run, on the same machine and inputs:

1. a simulated field (`make_cluster_field`, ``--n`` candidates on a
   ``--shape`` px mosaic, written as FITS files) and random-weight
   checkpoints (``--models compact``: two CompactNets at 32 px;
   ``--models phangs``: the PHANGS ensemble, 10 ResNet18 + 10 VGG19-BN
   at 64 px);
2. ``classify_table`` in this process, with torch on every core and with
   one thread: candidates/s, model loading included;
3. ``classify_catalog_dask`` on a LocalCluster of 1, then 2, worker
   processes with one thread each (cluster start-up not counted; model
   loading on every worker, chunk files and the combine are):
   candidates/s, the ratio 2 workers / 1 worker and Dask / local, and the
   classes compared with those of ``classify_table`` (they must be
   identical);
4. the cost per candidate (core-seconds of a single-threaded worker, from
   the workers' own timings, the lower of the two runs) and what it means
   for a million candidates on N machines.

Usage::

    python benchmarks/bench_dask.py                        # 20 000 candidates, CompactNets
    python benchmarks/bench_dask.py --models phangs --n 200 --shape 1500

Numbers depend on the machine and on whatever else runs on it.
"""

import argparse
import contextlib
import logging
import os
import shutil
import tempfile
import time

import numpy as np
import torch

from astro_clusterclass.classify import classify_table
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.distributed import classify_catalog_dask
from astro_clusterclass.models import get_model, save_checkpoint

#: Model sets: (architecture, builder options, count), stamp size.
MODEL_SETS = {'compact': ([('compactnet', {}, 2)], 32),
              'phangs': ([('resnet18', {}, 10), ('vgg19_bn', {}, 10)], 64)}


def make_models(directory, name):
    """Random-weight checkpoints of a model set (reused when present); their paths."""
    specs, size = MODEL_SETS[name]
    os.makedirs(directory, exist_ok=True)
    paths = []
    for arch, options, count in specs:
        for seed in range(count):
            path = os.path.join(directory, f'{arch}_{seed}_{size}px.safetensors')
            if not os.path.exists(path):
                torch.manual_seed(seed)
                save_checkpoint(get_model(arch, cutout_size=size, **options), path)
            paths.append(path)
    return paths


def compare(out, ref):
    """Rows whose class differs, per class column; max |dprob| of the mean probabilities."""
    names = [n for n in ref.colnames if n.startswith('class_') and n not in
             ('class_mean', 'class_median', 'class_std', 'class_quality')]
    differ = {n: int(np.sum(np.ma.filled(out[n], -1) != np.ma.filled(ref[n], -1)))
              for n in names}
    dprob = max(float(np.max(np.abs(np.ma.filled(out[f'prob_{k}'], 0)
                                    - np.ma.filled(ref[f'prob_{k}'], 0)))) for k in (1, 2, 3, 4))
    return differ, dprob


def timed(function):
    """``(result, seconds)`` of ``function()``."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _benchmark_rounds(tbl, images, models, work, args):
    """
    Best time of each configuration over ``args.repeat`` rounds.

    The configurations alternate within a round (local with every core,
    local with one thread, 1 worker, 2 workers), so that a burst of other
    work on the machine slows one round of each rather than all runs of one.
    Clusters start once and are not timed.
    """
    from distributed import Client, LocalCluster

    threads = torch.get_num_threads()
    best, startup, clients = {}, {}, {}
    # Closed in reverse order, so that each cluster restores the log level
    # the previous one set (silence_logs).
    with contextlib.ExitStack() as stack:
        for n_workers in (1, 2):
            start = time.perf_counter()
            cluster = stack.enter_context(LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True,
                dashboard_address='127.0.0.1:0', silence_logs=logging.ERROR))
            clients[n_workers] = stack.enter_context(Client(cluster))
            clients[n_workers].wait_for_workers(n_workers)
            startup[n_workers] = time.perf_counter() - start
        for round_ in range(args.repeat):
            runs = {}
            for count in sorted({threads, 1}, reverse=True):
                torch.set_num_threads(count)
                runs[f'local{count}'] = timed(lambda: classify_table(
                    tbl, images, models=models, precision='fp32', device='cpu',
                    progress=False))
            torch.set_num_threads(threads)
            for n_workers, client in clients.items():
                output_dir = os.path.join(work, f'run_{n_workers}w_{round_}')
                runs[f'dask{n_workers}'] = timed(lambda: classify_catalog_dask(
                    tbl, images, client=client, output_dir=output_dir, models=models,
                    chunk_size=args.chunk_size, precision='fp32', device='cpu',
                    progress=False))
                shutil.rmtree(output_dir)
            print(f'  round {round_ + 1}: '
                  + ', '.join(f'{k} {v[1]:.1f} s' for k, v in runs.items())
                  + f' (load average {os.getloadavg()[0]:.2f})', flush=True)
            for key, run in runs.items():
                if key not in best or run[1] < best[key][1]:
                    best[key] = run
    return best, startup


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=20000, help='candidates')
    parser.add_argument('--shape', type=int, default=4000, help='mosaic side (px)')
    parser.add_argument('--models', choices=sorted(MODEL_SETS), default='compact')
    parser.add_argument('--chunk-size', type=int, default=2048,
                        help='candidates per Dask task (default 2048: 10 tasks for 20 000)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='rounds of runs of every configuration; the fastest counts')
    parser.add_argument('--cores-per-machine', type=int, default=32,
                        help='cores of the machines of the capacity estimate')
    parser.add_argument('--workdir', default=None, help='keep files here (default: temporary)')
    args = parser.parse_args(argv)
    work = args.workdir or tempfile.mkdtemp(prefix='bench_dask_')
    try:
        _benchmark(args, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _benchmark(args, work):
    print(f'torch {torch.__version__}, {os.cpu_count()} cores, torch threads here '
          f'{torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}')
    start = time.perf_counter()
    field = make_cluster_field((args.shape, args.shape), args.n, seed=0)
    paths = field.write(os.path.join(work, 'field'), overwrite=True)
    tbl = field.candidates
    images = {band: paths[band] for band in field.images.bands}
    del field
    models = make_models(os.path.join(work, f'models_{args.models}'), args.models)
    print(f'field {args.shape} x {args.shape} px with {len(tbl)} candidates and '
          f'{len(models)} checkpoints ({args.models}) made in '
          f'{time.perf_counter() - start:.0f} s')

    n = len(tbl)
    threads = torch.get_num_threads()
    print(f'{args.repeat} rounds; the best time of each configuration counts:')
    best, startup = _benchmark_rounds(tbl, images, models, work, args)
    local_runs = {count: best[f'local{count}'][1] for count in sorted({threads, 1})}
    local = best[f'local{threads}'][0]
    for count, seconds in sorted(local_runs.items(), reverse=True):
        print(f'\nlocal classify_table, {count} torch thread(s): {seconds:.1f} s = '
              f'{n / seconds:.4g} candidates/s')
    local_s = min(local_runs.values())

    results = {}
    for n_workers in (1, 2):
        out, wall = best[f'dask{n_workers}']
        differ, dprob = compare(out, local)
        results[n_workers] = (out, wall)
        info, timing = out.meta['classification']['dask'], out.meta['classification']['timing']
        print(f'\nDask, {n_workers} worker process(es) x 1 thread (cluster start-up '
              f'{startup[n_workers]:.1f} s, not counted): {wall:.1f} s = {n / wall:.4g} '
              f'candidates/s')
        print(f'  {info["n_chunks"]} chunks of {args.chunk_size}; first model load '
              f'{timing["models_s"]:.1f} s, tasks {timing["classify_s"]:.1f} s, combine '
              f'{timing["combine_s"]:.1f} s; worker time {info["worker_s"]:.1f} s')
        print(f'  identical to classify_table: {not any(differ.values())} (rows with another '
              f'class: {sum(differ.values())} of {n} x {len(differ)} columns; max |dprob| '
              f'{dprob:.1e})')

    (_, wall1), (two, wall2) = results[1], results[2]
    print(f'\nratio 2 workers / 1 worker: {wall1 / wall2:.2f}x; against the faster local '
          f'run: 2 workers {local_s / wall2:.2f}x, 1 worker {local_s / wall1:.2f}x; against '
          f'local with {threads} threads: 2 workers {local_runs[threads] / wall2:.2f}x')

    # Cost per candidate: classifying core-seconds of a worker (one thread),
    # from the run least slowed by other jobs on the machine.
    cost = min(out.meta['classification']['dask']['worker_s'] for out, _ in results.values()) / n
    efficiency = min(1.0, (wall1 / wall2) / 2)
    print(f'\ncost: {cost * 1e3:.2f} ms of one core per candidate ({1 / cost:.4g} candidates/s '
          f'per single-threaded worker); 2-worker scaling efficiency {efficiency:.0%}')
    print(f'capacity for 1 000 000 candidates, one worker per core of '
          f'{args.cores_per_machine}-core machines (ideal scaling / at the measured '
          f'efficiency), plus one model load per worker ({two.meta["timing"]["models_s"]:.1f} '
          f's here):')
    for machines in (1, 4, 16, 64):
        cores = machines * args.cores_per_machine
        ideal = 1e6 * cost / cores
        print(f'  {machines:3d} machine(s), {cores:5d} workers: {ideal / 60:8.1f} min / '
              f'{ideal / efficiency / 60:8.1f} min')


if __name__ == '__main__':
    main()

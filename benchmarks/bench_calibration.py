"""
Benchmark of calibration: what it does for the bundled model, and what it costs.

Everything is measured in the same run:

1. **ECE of the bundled model before and after calibration.** Simulated
   fields (`astro_clusterclass.datasets.make_cluster_field`, seeds the
   bundled model was neither trained nor scored on) are classified by
   ``classify_table`` with the default model; a temperature (and a vector
   scaling) is fitted on the labelled candidates of one field
   (``fit_calibration``) and applied to the others. Printed per field:
   accuracy, ECE (15 equal-width and 15 equal-count bins), Brier score and
   NLL, uncalibrated and calibrated. ``--figure`` draws the reliability
   diagram of the first measurement field.
2. **A small, over-confident network.** A CompactNet (widths 8-16-32,
   16 px stamps) trained on ``--small-labels`` labelled candidates of one
   simulated field for many passes, calibrated on a second field
   (``fit_temperature`` on its probabilities) and measured on a third: the
   regime of a classifier trained on few labels, where calibration matters.
3. **Overhead.** ``classify_table`` on ``--n`` candidates, alternately
   without and with the calibration, ``--repeats`` times each (the best and
   the median of each are printed, and their ratio); and the extra work
   itself (entropy, margin, mutual information and the calibration of the
   mean probabilities) timed on the same arrays, as a fraction of the
   whole call. The default ensemble (one CompactNet) is the fastest there
   is, so the fractions are the largest they get.

Usage::

    nice -n 10 python benchmarks/bench_calibration.py --threads 1 \\
        --figure docs/_static/calibration/reliability_bundled.png

Numbers depend on the machine and on whatever else runs on it.
"""

import argparse
import json
import time

import astropy.units as u
import numpy as np
import torch
from astropy.table import QTable, vstack

from astro_clusterclass.calibration import (calibration_scores, entropy, fit_calibration,
                                            fit_temperature, margin, mutual_information,
                                            probabilities_from_table, reliability_curve)
from astro_clusterclass.classify import Ensemble, classify_table
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.training import TrainingSet, simulated_training_set, train_model

FIT_FIELD = (2001, 10)
MEASURE_FIELDS = [(2002, 7), (2003, 15)]
N_BINS = 15


def classified(seed, mpc, shape, ensemble):
    field = make_cluster_field(shape, seed=seed, distance=mpc * u.Mpc)
    tbl = field.labelled_candidates()
    return field, tbl, classify_table(tbl, field.images, models=ensemble, progress=False)


def scores_of(out, labels):
    done = ~out['class_mode'].mask
    return calibration_scores(probabilities_from_table(out)[done], labels[done], n_bins=N_BINS)


def row(name, scores):
    return (f'  {name:24s} acc {scores["accuracy"]:.4f}  ECE {scores["ece"]:.4f}  '
            f'ECE(quantile) {scores["ece_quantile"]:.4f}  Brier {scores["brier"]:.4f}  '
            f'NLL {scores["nll"]:.4f}')


def ece_study(shape, figure):
    ensemble = Ensemble(precision='fp32')
    seed, mpc = FIT_FIELD
    _, tbl, out = classified(seed, mpc, shape, ensemble)
    description = f'make_cluster_field({shape}, seed={seed}, distance={mpc} Mpc)'
    cals = {'temperature': fit_calibration(out, description=description),
            'vector': fit_calibration(out, method='vector', description=description)}
    print(f'fitted on field seed {seed} ({mpc} Mpc, {cals["temperature"].fit["n"]} '
          f'classified candidates): T = {cals["temperature"].temperature:.4f}; vector scale '
          f'{np.round(cals["vector"].scale, 3).tolist()}, bias '
          f'{np.round(cals["vector"].bias, 3).tolist()}')
    results = {'temperature': cals['temperature'].temperature,
               'vector_scale': list(cals['vector'].scale), 'fields': {}}
    curves = None
    for seed, mpc in MEASURE_FIELDS:
        field = make_cluster_field(shape, seed=seed, distance=mpc * u.Mpc)
        tbl = field.labelled_candidates()
        labels = np.asarray(tbl['class'])
        raw = classify_table(tbl, field.images, models=ensemble, progress=False)
        entry = {'uncalibrated': scores_of(raw, labels)}
        print(f'field seed {seed} ({mpc} Mpc, {entry["uncalibrated"]["n"]} classified):')
        print(row('uncalibrated', entry['uncalibrated']))
        for name, cal in cals.items():
            out = classify_table(tbl, field.images, models=ensemble, progress=False,
                                 calibration=cal)
            entry[name] = scores_of(out, labels)
            print(row(f'{name} scaling', entry[name]))
            if curves is None and name == 'temperature':
                done = ~out['class_mode'].mask
                curves = {'uncalibrated': reliability_curve(
                              probabilities_from_table(raw)[done], labels[done], n_bins=N_BINS),
                          f'temperature (T = {cal.temperature:.2f})': reliability_curve(
                              probabilities_from_table(out)[done], labels[done],
                              n_bins=N_BINS)}
                figure_field = (seed, mpc)
        results['fields'][f'seed{seed}_{mpc}Mpc'] = entry
    if figure:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        from astro_clusterclass.visualization import plot_reliability_diagram
        fig, ax = plt.subplots(figsize=(5, 4.2), constrained_layout=True)
        plot_reliability_diagram(curves, ax=ax, title=(
            f'bundled model, simulated field seed {figure_field[0]} '
            f'(fitted on seed {FIT_FIELD[0]})'))
        fig.savefig(figure, dpi=120)
        plt.close(fig)
        print(f'wrote {figure}')
    return cals['temperature'], results


def small_network(n_labels, n_batches):
    """Train on one field, calibrate on a second, measure on a third."""
    fields = simulated_training_set([(2101, 9), (2102, 11), (2103, 13)], size=16,
                                    shape=(1500, 1500), progress=False)
    sets = {g: np.flatnonzero(fields.groups == g) for g in ('seed2101', 'seed2102', 'seed2103')}
    rng = np.random.default_rng(0)
    train = rng.choice(sets['seed2101'], size=n_labels, replace=False)
    token = sets['seed2102'][:8]        # train_model's own split; the study scores elsewhere
    groups = np.where(np.isin(np.arange(len(fields)), token), 'token', 'train')
    keep = np.concatenate([train, token])
    tset = TrainingSet.from_arrays(fields.stamps[keep], fields.labels[keep], size=16,
                                   groups=groups[keep])
    model = train_model(tset, architecture='compactnet', model_config={'widths': [8, 16, 32]},
                        n_batches=n_batches, split='group', test_groups=['token'], seed=0,
                        progress=False, device='cpu').model
    ensemble = Ensemble(model, device='cpu', precision='fp32')
    fit_rows, measure_rows = sets['seed2102'], sets['seed2103']
    p_fit = ensemble.predict(fields.stamps[fit_rows])[:, 0]
    p_measure = ensemble.predict(fields.stamps[measure_rows])[:, 0]
    cal = fit_temperature(p_fit, fields.labels[fit_rows], kind='probabilities')
    labels = fields.labels[measure_rows]
    before = calibration_scores(p_measure, labels, n_bins=N_BINS)
    after = calibration_scores(cal.apply(p_measure), labels, n_bins=N_BINS)
    print(f'small CompactNet trained on {n_labels} labels of field seed 2101 ({n_batches} '
          f'batches of 32), T = {cal.temperature:.3f} fitted on field seed 2102 '
          f'({len(fit_rows)} objects), measured on field seed 2103 ({len(measure_rows)}):')
    print(row('uncalibrated', before))
    print(row('temperature scaling', after))
    return {'temperature': cal.temperature, 'n_labels': n_labels, 'n_batches': n_batches,
            'uncalibrated': before, 'temperature_scaling': after}


def overhead(cal, n, repeats, shape):
    field = make_cluster_field(shape, seed=2004, distance=10 * u.Mpc)
    base = QTable(field.candidates)['id', 'x', 'y']
    tbl = vstack([base] * int(np.ceil(n / len(base))))[:n]
    ensemble = Ensemble(precision='fp32')
    classify_table(tbl, field.images, models=ensemble, progress=False)      # warm up
    times = {'without': [], 'with': []}
    for _ in range(repeats):
        for name, given in (('without', None), ('with', cal)):
            start = time.perf_counter()
            out = classify_table(tbl, field.images, models=ensemble, progress=False,
                                 calibration=given)
            times[name].append(time.perf_counter() - start)
    # The extra work alone, on arrays of the same size.
    probs = ensemble.classify_positions(field.images, tbl['x'], tbl['y'])[1]
    mean = probs.mean(axis=1)
    extra = []
    for _ in range(repeats):
        start = time.perf_counter()
        calibrated = cal.apply(mean, kind='probabilities')
        entropy(calibrated), margin(calibrated), mutual_information(probs)
        extra.append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    median = {k: float(np.median(v)) for k, v in times.items()}
    print(f'classify_table on {n} candidates, default model, fp32, '
          f'{torch.get_num_threads()} thread(s), {repeats} runs each:')
    for name in times:
        print(f'  {name:8s} calibration: best {best[name]:.3f} s, median {median[name]:.3f} s')
    print(f'  with / without: best {best["with"] / best["without"]:.4f}, median '
          f'{median["with"] / median["without"]:.4f}')
    print(f'  extra work alone (calibration + entropy + margin + mutual information): '
          f'{min(extra) * 1e3:.2f} ms = {100 * min(extra) / best["without"]:.3f} % of the call')
    print(f"  results_s in meta (building all result columns): "
          f"{out.meta['classification']['timing']['results_s']:.3f} s")
    return {'n': n, 'best': best, 'median': median,
            'ratio_best': best['with'] / best['without'],
            'ratio_median': median['with'] / median['without'],
            'extra_s': min(extra), 'extra_fraction': min(extra) / best['without']}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shape', type=int, default=2000, help='side of each field (px)')
    parser.add_argument('--n', type=int, default=5000, help='candidates of the overhead run')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--figure', default=None, help='write the reliability diagram here')
    parser.add_argument('--json', default=None, help='write the numbers here')
    parser.add_argument('--small-labels', type=int, default=300)
    parser.add_argument('--small-batches', type=int, default=1500)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = (args.shape, args.shape)
    cal, results = ece_study(shape, args.figure)
    results['small_network'] = small_network(args.small_labels, args.small_batches)
    results['overhead'] = overhead(cal, args.n, args.repeats, shape)
    if args.json:
        with open(args.json, 'w') as fh:
            json.dump(results, fh, indent=1)


if __name__ == '__main__':
    main()

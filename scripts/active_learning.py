"""
Active-learning study: how many labels does uncertainty sampling save?

On simulated fields (true classes known) the study imitates a person
labelling candidates for a classifier:

1. the pool is every candidate of the ``--pool-fields`` (its labels are
   hidden until "labelled"); the held-out test set is every candidate of
   another field (``--test-field``), never labelled or selected;
2. a repeat starts from ``--initial`` pool objects drawn at random (drawn
   again until every class has at least one), the same for every strategy;
3. each round trains an ensemble of ``--members`` small CompactNets
   (`astro_clusterclass.training.train_model`, batches of 32 with balanced
   class sampling, ``--epochs`` passes over the labelled objects and at
   least ``--min-batches`` batches, so that larger labelled sets are not
   under-trained) on the labelled objects, classifies the
   unlabelled pool and the test set through the engine
   (`astro_clusterclass.classify.Ensemble`: mean probabilities, mode,
   quality, entropy, margin, mutual information), records the test
   accuracy of the ensemble's mode (all four classes, mean of the
   per-class accuracies, class 1+2 as one class), and picks the next
   ``--batch`` objects with
   `astro_clusterclass.calibration.select_for_review` for each strategy;
   they are "labelled" from the truth;
4. rounds go on until ``--budget`` labels; ``--repeats`` repeats with other
   seeds give the error bars (standard deviation over repeats).

The headline: the number of labels each strategy needs for its mean curve
to reach the accuracy random sampling has at the full budget (linear
interpolation between rounds; None when it does not within the budget),
for the class 1+2, the mean-of-classes and the overall accuracy.

The committed figure and numbers (docs/calibration.rst) were made with::

    nice -n 10 python scripts/active_learning.py --threads 1

(the defaults; stamps of 16 px, widths 8-16-32). ``--quick`` is a smoke
run of a few seconds; ``--from-table`` redraws the figure and summary of
an earlier run from its table. Outputs go to ``--out-dir``:
``active_learning.ecsv`` (one row per strategy, repeat and round),
``active_learning.json`` (settings, curves and headline) and
``active_learning.png``.
"""

import argparse
import json
import os
import time

import numpy as np
import torch
from astropy.table import QTable

from astro_clusterclass.calibration import REVIEW_STRATEGIES, select_for_review
from astro_clusterclass.classes import CLASSES
from astro_clusterclass.classify import Ensemble
from astro_clusterclass.training import (TrainingSet, evaluate_classes,
                                         simulated_training_set, train_model)

POOL_FIELDS = [(4101, 8), (4102, 11), (4103, 14)]
TEST_FIELD = (4201, 10)
STRATEGIES = ('random', 'entropy', 'margin', 'disagreement', 'quality')
METRICS = ('cluster_accuracy', 'mean_class_accuracy', 'accuracy')
UNCERTAINTY = ('entropy', 'margin', 'disagreement')


def make_data(pool_fields, test_field, *, size, shape, test_shape):
    """The pool and the test set (`TrainingSet`: stamps and true classes)."""
    pool = simulated_training_set(pool_fields, size=size, shape=shape, progress=False)
    test = simulated_training_set([test_field], size=size, shape=test_shape, progress=False)
    return pool, test


def initial_set(labels, n, rng):
    """``n`` random rows holding every class at least once."""
    for _ in range(1000):
        rows = rng.choice(len(labels), size=n, replace=False)
        if set(labels[rows].tolist()) >= set(CLASSES):
            return np.sort(rows)
    msg = f'could not draw {n} objects holding every class; raise --initial'
    raise RuntimeError(msg)


def n_batches_for(n_labels, *, epochs, min_batches):
    """Batches of 32 for ``epochs`` passes over ``n_labels`` objects (at least ``min_batches``)."""
    return max(int(min_batches), int(np.ceil(epochs * n_labels / 32)))


def train_round(pool, test, labelled, *, members, seed, n_batches, widths):
    """An ensemble of ``members`` networks trained on the pool rows ``labelled``."""
    # train_model holds out a test split; the study scores the whole ensemble on
    # the whole test field itself, so that split is a token one (two test stamps
    # of each class).
    token = np.concatenate([np.flatnonzero(test.labels == k)[:2] for k in CLASSES])
    stamps = np.concatenate([pool.stamps[labelled], test.stamps[token]])
    labels = np.concatenate([pool.labels[labelled], test.labels[token]])
    groups = np.array(['labelled'] * len(labelled) + ['token'] * len(token))
    tset = TrainingSet.from_arrays(stamps, labels, size=pool.size, groups=groups,
                                   description='active-learning round')
    models = [train_model(tset, architecture='compactnet', model_config={'widths': widths},
                          n_batches=n_batches, batch_size=32, split='group',
                          test_groups=['token'], seed=seed + m, progress=False,
                          precision='fp32', device='cpu').model
              for m in range(members)]
    return Ensemble(models, device='cpu', precision='fp32')


def classified(ensemble, stamps, labels):
    """The engine's result table for stamps in memory (every row classified)."""
    probs = ensemble.predict(stamps, batch_size=256)
    n = len(stamps)
    tbl = QTable({'row': np.arange(n), 'class': labels})
    return ensemble.results_table(tbl, np.zeros(n, np.uint8), probs, np.ones(n, bool))


def test_scores(ensemble, test):
    out = classified(ensemble, test.stamps, test.labels)
    ev = evaluate_classes(test.labels, out['class_mode'])
    return {name: float(getattr(ev, name)) for name in METRICS}


def run_study(pool, test, *, strategies, repeats, initial, batch, budget, members,
              epochs, min_batches, widths, log=print):
    """One row per strategy, repeat and labelled-set size."""
    rows = []
    sizes = list(range(initial, budget + 1, batch))
    for repeat in range(repeats):
        rng = np.random.default_rng(repeat)
        start = initial_set(pool.labels, initial, rng)
        first = train_round(pool, test, start, members=members, seed=10_000 * repeat,
                            n_batches=n_batches_for(len(start), epochs=epochs,
                                                    min_batches=min_batches),
                            widths=widths)
        first_scores = test_scores(first, test)
        first_pool = classified(first, pool.stamps, pool.labels)
        for strategy in strategies:
            labelled = start.copy()
            ensemble, scores, pool_tbl = first, first_scores, first_pool
            for r, n in enumerate(sizes):
                if r:
                    ensemble = train_round(pool, test, labelled, members=members,
                                           seed=10_000 * repeat + 100 * r,
                                           n_batches=n_batches_for(len(labelled),
                                                                   epochs=epochs,
                                                                   min_batches=min_batches),
                                           widths=widths)
                    scores = test_scores(ensemble, test)
                    pool_tbl = classified(ensemble, pool.stamps, pool.labels)
                counts = np.bincount(pool.labels[labelled], minlength=5)[1:]
                rows.append({'strategy': strategy, 'repeat': repeat, 'n_labels': len(labelled),
                             **scores, **{f'n_class_{k}': int(c)
                                          for k, c in zip(CLASSES, counts)}})
                log(f'repeat {repeat} {strategy:12s} {len(labelled):4d} labels: class 1+2 '
                    f'{scores["cluster_accuracy"]:.3f}, mean of classes '
                    f'{scores["mean_class_accuracy"]:.3f}')
                if r + 1 < len(sizes):
                    taken = np.zeros(len(pool.labels), bool)
                    taken[labelled] = True
                    pick = select_for_review(pool_tbl, batch, strategy=strategy,
                                             seed=1000 * repeat + r, exclude=taken)
                    labelled = np.sort(np.concatenate([labelled,
                                                       np.asarray(pick['review_row'])]))
    return QTable(rows=rows) if rows else QTable()


def curves(results, metric):
    """strategy → (sizes, mean, std) of ``metric`` over the repeats."""
    out = {}
    for strategy in dict.fromkeys(results['strategy'].tolist()):
        sub = results[results['strategy'] == strategy]
        sizes = np.unique(sub['n_labels'])
        values = np.array([[float(r[metric]) for r in sub[sub['n_labels'] == n]]
                           for n in sizes])
        out[strategy] = (sizes, values.mean(axis=1), values.std(axis=1))
    return out


def labels_to_reach(sizes, values, target):
    """Smallest number of labels at which ``values`` (a curve) reaches ``target``."""
    above = np.flatnonzero(values >= target)
    if not above.size:
        return None
    i = above[0]
    if i == 0:
        return float(sizes[0])
    x0, x1, y0, y1 = sizes[i - 1], sizes[i], values[i - 1], values[i]
    return float(x0 + (target - y0) / (y1 - y0) * (x1 - x0))


def headline(results, budget):
    """Labels each strategy needs to reach random sampling's full-budget accuracy."""
    out = {}
    for metric in METRICS:
        curve = curves(results, metric)
        if 'random' not in curve:
            continue
        sizes, mean, std = curve['random']
        target = float(mean[sizes == budget][0])
        entry = {'random_at_budget': target, 'random_at_budget_std': float(std[-1]),
                 'budget': budget, 'labels_needed': {}}
        for strategy, (s, m, _) in curve.items():
            need = labels_to_reach(s, m, target)
            entry['labels_needed'][strategy] = need
        out[metric] = entry
    return out


def plot(results, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    titles = {'cluster_accuracy': 'class 1+2 accuracy (held-out field)',
              'mean_class_accuracy': 'mean of the four class accuracies',
              'accuracy': 'accuracy over all objects'}
    for ax, metric in zip(axes, titles):
        for strategy, (sizes, mean, std) in curves(results, metric).items():
            style = {'color': 'k', 'ls': '--'} if strategy == 'random' else {}
            ax.errorbar(sizes, mean, yerr=std, marker='o', ms=3, capsize=2, lw=1.2,
                        label=strategy, **style)
        sizes, mean, _ = curves(results, metric)['random']
        ax.axhline(mean[-1], color='0.6', lw=0.8, ls=':')
        ax.set_xlabel('labelled objects')
        ax.set_ylabel('accuracy')
        ax.set_title(titles[metric], fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc='lower right')
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--strategies', default=','.join(STRATEGIES),
                        help=f'comma-separated, among {sorted(REVIEW_STRATEGIES)}')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--initial', type=int, default=40)
    parser.add_argument('--batch', type=int, default=40)
    parser.add_argument('--budget', type=int, default=400)
    parser.add_argument('--members', type=int, default=3)
    parser.add_argument('--epochs', type=float, default=12.0,
                        help='passes over the labelled objects per training')
    parser.add_argument('--min-batches', type=int, default=50)
    parser.add_argument('--size', type=int, default=16, help='stamp side (px)')
    parser.add_argument('--shape', type=int, default=1500, help='side of each pool field (px)')
    parser.add_argument('--test-shape', type=int, default=2500,
                        help='side of the held-out field (px)')
    parser.add_argument('--threads', type=int, default=None, help='torch threads')
    parser.add_argument('--out-dir', default=os.path.join('docs', '_static', 'calibration'))
    parser.add_argument('--quick', action='store_true', help='a smoke run of a few seconds')
    parser.add_argument('--from-table', default=None,
                        help='recompute the summary and the figure from the '
                             'active_learning.ecsv of an earlier run (no training)')
    args = parser.parse_args()
    if args.from_table:
        results = QTable.read(args.from_table)
        write_outputs(results, dict(results.meta['settings']), args.out_dir)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.repeats, args.initial, args.batch, args.budget = 1, 12, 8, 20
        args.test_shape = 400
        args.shape, args.epochs, args.min_batches, args.members = 400, 1.0, 5, 2
    strategies = [s.strip() for s in args.strategies.split(',') if s.strip()]
    unknown = sorted(set(strategies) - set(REVIEW_STRATEGIES))
    if unknown:
        parser.error(f'--strategies: unknown {unknown}; choose among {sorted(REVIEW_STRATEGIES)}')
    if (args.budget - args.initial) % args.batch:
        parser.error('--budget minus --initial must be a multiple of --batch')
    widths = [8, 16, 32]
    started = time.perf_counter()
    pool, test = make_data(POOL_FIELDS, TEST_FIELD, size=args.size,
                           shape=(args.shape, args.shape),
                           test_shape=(args.test_shape, args.test_shape))
    print(f'pool: {pool}\ntest: {test}', flush=True)
    results = run_study(pool, test, strategies=strategies, repeats=args.repeats,
                        initial=args.initial, batch=args.batch, budget=args.budget,
                        members=args.members, epochs=args.epochs,
                        min_batches=args.min_batches, widths=widths,
                        log=lambda line: print(line, flush=True))
    elapsed = time.perf_counter() - started
    settings = {**vars(args), 'widths': widths, 'pool_fields': POOL_FIELDS,
                'test_field': TEST_FIELD, 'pool_size': len(pool), 'test_size': len(test),
                'seconds': round(elapsed, 1), 'torch_threads': torch.get_num_threads(),
                'load_average_end': list(os.getloadavg())}
    results.meta['settings'] = settings
    os.makedirs(args.out_dir, exist_ok=True)
    results.write(os.path.join(args.out_dir, 'active_learning.ecsv'), overwrite=True)
    write_outputs(results, settings, args.out_dir)


def write_outputs(results, settings, out_dir):
    """The summary (JSON), the figure, and the headline printed."""
    summary = {'settings': settings, 'headline': headline(results, settings['budget']),
               'curves': {metric: {s: {'n_labels': c[0].tolist(), 'mean': c[1].tolist(),
                                       'std': c[2].tolist()}
                                   for s, c in curves(results, metric).items()}
                          for metric in METRICS}}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'active_learning.json'), 'w') as fh:
        json.dump(summary, fh, indent=1)
    plot(results, os.path.join(out_dir, 'active_learning.png'))
    print(json.dumps(summary['headline'], indent=1))
    print(f'{settings["seconds"]:.0f} s; wrote {out_dir}/active_learning.(ecsv|json|png)')


if __name__ == '__main__':
    main()

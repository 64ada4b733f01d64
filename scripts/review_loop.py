"""
The whole human-in-the-loop cycle on simulated fields, scripted.

1. simulate a field to review and a held-out field (true classes known);
2. classify both with the bundled model (`astro_clusterclass.classify_table`)
   and score the held-out field: the accuracy *before*;
3. start the review web application (`astro_clusterclass.review.ReviewApp`)
   on the reviewed field and let a scripted "reviewer" label the
   ``--n-review`` most doubtful candidates through its web API, exactly as
   the page does: ``GET /api/queue?order=doubtful``, then one
   ``POST /api/label`` per candidate with the simulated truth (class and
   class-4 subclass), each answered once the label is committed;
4. export the labels (`astro_clusterclass.review.export_labels`: every row,
   ``class_human`` where reviewed);
5. fine-tune the bundled model (`astro_clusterclass.training.train_model`)
   on the reviewed candidates' human classes together with the machine's
   own classes of the candidates it is sure of (every model agreeing, mean
   probability at least ``--confident``; the rest left out with
   ``unknown_labels='drop'``). Fine-tuned on the 200 doubtful ones alone
   (``--human-only``), the network forgets what it knew
   of the easy majority and gets worse on the held-out field;
6. classify the held-out field again: the accuracy *after*.

The numbers printed by::

    nice -n 10 python scripts/review_loop.py

are those of ``docs/review.rst``. ``--quick`` is a smoke run.
"""

import argparse
import http.client
import json
import os
import tempfile
import time

import numpy as np
import torch

from astro_clusterclass.classify import classify_table
from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import default_weights
from astro_clusterclass.review import LabelStore, ReviewApp, export_labels
from astro_clusterclass.training import evaluate_classes, train_model


class Reviewer:
    """A scripted reviewer speaking the page's web API (JSON over HTTP, token in a header)."""

    def __init__(self, app, name):
        self.host, self.port, self.token, self.name = '127.0.0.1', app.port, app.token, name

    def _call(self, method, path, body=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {'Authorization': f'token {self.token}'}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers['Content-Type'] = 'application/json'
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = json.loads(response.read())
        conn.close()
        if response.status != 200:
            msg = f'{method} {path}: {response.status} {payload}'
            raise RuntimeError(msg)
        return payload

    def queue(self, order):
        return self._call('GET', f'/api/queue?order={order}&reviewer={self.name}')['rows']

    def label(self, row, label, subclass=None):
        return self._call('POST', '/api/label', {'row': int(row), 'label': int(label),
                                                 'subclass': subclass, 'reviewer': self.name})


def truth_of(field):
    """Per candidate row: (class, subclass or None) of the simulated truth."""
    truth = field.labelled_candidates(('class', 'subclass'))
    out = []
    for k, sub in zip(truth['class'], truth['subclass']):
        sub = str(sub).strip()
        out.append((int(k), sub if int(k) == 4 and sub.startswith('4.') else None))
    return out


def scores(tbl, truth, column='class_mode'):
    true = np.array([k for k, _ in truth])
    ev = evaluate_classes(true, tbl[column])
    return {'accuracy': float(ev.accuracy), 'cluster_accuracy': float(ev.cluster_accuracy),
            'mean_class_accuracy': float(ev.mean_class_accuracy)}


def show(name, s, n):
    return (f'{name}: accuracy {s["accuracy"]:.3f}, class 1+2 accuracy '
            f'{s["cluster_accuracy"]:.3f}, mean of the class accuracies '
            f'{s["mean_class_accuracy"]:.3f} ({n} held-out candidates)')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shape', type=int, default=3000, help='side of the reviewed field')
    parser.add_argument('--test-shape', type=int, default=3000, help='side of the held-out field')
    parser.add_argument('--preset', default='legus', help='simulator preset of both fields')
    parser.add_argument('--seed', type=int, default=5101, help='seed of the reviewed field')
    parser.add_argument('--test-seed', type=int, default=5201, help='seed of the held-out field')
    parser.add_argument('--n-review', type=int, default=200, help='candidates reviewed')
    parser.add_argument('--n-batches', type=int, default=300, help='fine-tuning batches')
    parser.add_argument('--lr', type=float, default=1e-4, help='fine-tuning learning rate')
    parser.add_argument('--confident', type=float, default=0.9,
                        help='smallest mean probability of a machine class kept for training')
    parser.add_argument('--human-only', action='store_true',
                        help='train on the reviewed candidates only')
    parser.add_argument('--machine-only', action='store_true',
                        help='control: train on the confident machine classes only (the '
                             'human labels left out)')
    parser.add_argument('--threads', type=int, default=None, help='torch threads')
    parser.add_argument('--quick', action='store_true', help='a smoke run')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.shape, args.test_shape, args.n_review, args.n_batches = 800, 800, 30, 20
    started = time.perf_counter()
    weights = default_weights()
    field = make_cluster_field((args.shape, args.shape), seed=args.seed, preset=args.preset)
    held_out = make_cluster_field((args.test_shape, args.test_shape), seed=args.test_seed,
                                  preset=args.preset)
    print(f'reviewed field: {field}\nheld-out field: {held_out}\nmodel: {weights}')
    truth, test_truth = truth_of(field), truth_of(held_out)

    tbl = classify_table(field.candidates, field.images, progress=False)
    test = classify_table(held_out.candidates, held_out.images, progress=False)
    before = scores(test, test_truth)
    print(show('before', before, len(test)))

    folder = tempfile.mkdtemp(prefix='review_loop_')
    db = os.path.join(folder, 'labels.sqlite')
    with LabelStore(db, catalog=tbl) as store:
        app = ReviewApp(tbl, field.images, store, reviewer='script')
        app.start()
        try:
            reviewer = Reviewer(app, 'script')
            rows = reviewer.queue('doubtful')[:args.n_review]
            t0 = time.perf_counter()
            for row in rows:
                label, subclass = truth[row]
                reviewer.label(row, label, subclass)
            rate = len(rows) / (time.perf_counter() - t0)
        finally:
            app.stop()
        labelled = export_labels(store, catalog=tbl)
    counts = np.bincount([truth[r][0] for r in rows], minlength=5)[1:].tolist()
    reviewed_before = scores(tbl[rows], [truth[r] for r in rows])
    print(f'reviewed the {len(rows)} most doubtful candidates through the web API '
          f'({rate:.0f} labels/s); their true classes 1-4: {counts}; the model had '
          f'{reviewed_before["accuracy"]:.3f} of them right')
    n_human = int(np.sum(~np.ma.getmaskarray(labelled['class_human'])))
    print(f'exported {len(labelled)} rows, {n_human} with class_human')

    train = labelled.copy()
    human = np.ma.asarray(train['class_human'])
    probs = np.stack([np.asarray(train[f'prob_{k}'], float) for k in (1, 2, 3, 4)], axis=1)
    quality = np.ma.asarray(train['class_quality']).filled(0)
    sure = ((quality == 1)
            & (np.nan_to_num(probs).max(axis=1) >= args.confident)
            & ~np.ma.getmaskarray(np.ma.asarray(train['class_mode'])))
    if args.human_only:
        sure[:] = False
    if args.machine_only:
        human = np.ma.masked_all(len(train), dtype=int)
        n_human = 0
    machine = np.ma.asarray(train['class_mode']).filled(0)
    label = np.where(~np.ma.getmaskarray(human), human.filled(0), np.where(sure, machine, 0))
    train['class_train'] = np.ma.MaskedArray(label, mask=label == 0)
    n_sure = int(np.sum(sure & np.ma.getmaskarray(human)))
    print(f'training labels: {n_human} human + {n_sure} confident machine classes '
          f'(mean probability >= {args.confident}, every model agreeing)')
    result = train_model(train, images=field.images, init=f'CompactNet_Weights.{weights.name}',
                         label_column='class_train', unknown_labels='drop',
                         n_batches=args.n_batches, lr=args.lr, test_fraction=0.2, seed=0,
                         progress=False, device='cpu', precision='fp32')
    print(f'fine-tuned {weights.name} for {args.n_batches} batches of 32 (lr {args.lr}) on '
          f'these; its own test split: accuracy {float(result.evaluation.accuracy):.3f}')
    again = classify_table(held_out.candidates, held_out.images, models=[result.model],
                           progress=False)
    after = scores(again, test_truth)
    print(show('after', after, len(again)))
    print(f'{time.perf_counter() - started:.0f} s in all; torch threads '
          f'{torch.get_num_threads()}')


if __name__ == '__main__':
    main()

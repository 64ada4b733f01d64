"""
Train a bundled model and write it into the package.

The model is a `CompactNet` trained by `astro_clusterclass.training.train_model`
on simulated five-band fields (`astro_clusterclass.datasets.make_cluster_field`)
with their true classes. It has never seen a real HST image: it is the
package's working default for simulated data and a starting point, not a
classifier validated on real galaxies (see docs/limitations.rst).

The exact command that produced the committed weights
(``compactnet_sim_v1-63034c0f.safetensors``, 424 s on this project's 2-core
CI-class machine, torch 2.14.1, one thread because another process kept
the second core busy)::

    python scripts/train_bundled_model.py --threads 1

It simulates 8 training fields (seeds 101-108, 6-15 Mpc), cuts 33 px
stamps around the detected candidates, trains for 6000 batches of 32 and
scores the model on held-out fields of seeds the training never used
(1000 at 10 Mpc, 1001 at 7 Mpc, 1002 at 15 Mpc) through ``classify_table``,
the path users run. The metrics go into the checkpoint's metadata and are
printed; the file is written as
``astro_clusterclass/models/weights/compactnet_sim_v1-<sha256[:8]>.safetensors``
and its record must then be set in ``astro_clusterclass/models/compact.py``
(the script prints it).

``SIM_V2`` (``compactnet_sim_v2-<sha8>.safetensors``) is the same recipe on
fields of the ``'legus'`` simulator preset, whose measured candidates match
the LEGUS catalogues of NGC 1566 and NGC 628 (``docs/realism.rst``)::

    nice -n 10 python scripts/train_bundled_model.py --threads 1 --preset legus --name sim_v2

Its training fields are seeds 101-108 of that preset (6-17.7 Mpc); the
held-out fields are seeds 3000-3003 of the ``'legus'`` preset (7, 10,
15 and 17.7 Mpc) and seeds 1000-1002 of ``'v1'``; every held-out field is
scored with the new model and with ``SIM_V1`` (``--compare``), next to the
human-human agreement of the paper.
"""

import argparse
import json
import os
import time

import astropy.units as u
import numpy as np
import torch

from astro_clusterclass.datasets import make_cluster_field
from astro_clusterclass.models import WEIGHTS_DIR, save_checkpoint, sha256_file
from astro_clusterclass.training import (HUMAN_AGREEMENT, evaluate, simulated_training_set,
                                         train_model)

TRAIN_FIELDS = [(101, 6), (102, 8), (103, 10), (104, 12), (105, 15), (106, 7), (107, 9),
                (108, 11)]
HELDOUT_FIELDS = [(1000, 10), (1001, 7), (1002, 15)]
#: Training and held-out fields of the 'legus' preset (seed, Mpc).
TRAIN_FIELDS_LEGUS = [(101, 6), (102, 8), (103, 10), (104, 12), (105, 15), (106, 17.7),
                      (107, 9.8), (108, 11)]
HELDOUT_FIELDS_LEGUS = [(3000, 7), (3001, 10), (3002, 15), (3003, 17.7)]
SHAPE = (4000, 4000)
SIZE = 32


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n-batches', type=int, default=6000)
    parser.add_argument('--out-dir', default=str(WEIGHTS_DIR))
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch decides; use 1 when another '
                             'process keeps a core busy: oversubscribed threads are ~4x slower)')
    parser.add_argument('--preset', default='v1', help="simulator preset ('v1', 'legus')")
    parser.add_argument('--name', default='sim_v1',
                        help='weights name (file compactnet_<name>-...)')
    parser.add_argument('--compare', default=None,
                        help='also score this model on the held-out fields (default '
                             "CompactNet_Weights.SIM_V1 unless --preset v1; '' for none)")
    parser.add_argument('--quick', action='store_true',
                        help='a small smoke run (tiny fields, 50 batches) into --out-dir')
    args = parser.parse_args()
    shape = (1000, 1000) if args.quick else SHAPE
    n_batches = 50 if args.quick else args.n_batches
    if args.threads:
        torch.set_num_threads(args.threads)

    started = time.perf_counter()
    legus = args.preset == 'legus'
    if args.compare is None:
        args.compare = 'CompactNet_Weights.SIM_V1' if args.preset != 'v1' else ''
    train_fields = TRAIN_FIELDS_LEGUS if legus else TRAIN_FIELDS
    heldout_fields = ([(s, d, 'legus') for s, d in HELDOUT_FIELDS_LEGUS] if legus else []) \
        + [(s, d, 'v1') for s, d in HELDOUT_FIELDS]
    print('simulating the training fields ...', flush=True)
    tset = simulated_training_set(train_fields, size=SIZE, shape=shape, preset=args.preset)
    print(f'training set: {tset}', flush=True)
    result = train_model(tset, architecture='compactnet', n_batches=n_batches, batch_size=32,
                         lr=1e-3, optimizer='adamw', weight_decay=1e-4, schedule='cosine',
                         balance='sampling', test_fraction=0.1, seed=0, progress=True)
    model = result.model
    print('internal test split (objects of the training fields held out):')
    print(result.evaluation)

    heldout, compared = {}, {}
    for seed, mpc, preset in heldout_fields:
        field = make_cluster_field(shape, seed=seed, distance=mpc * u.Mpc, preset=preset)
        tbl = field.labelled_candidates()
        ev32, out32 = evaluate(model, tbl, field.images, precision='fp32', progress=False)
        ev16, out16 = evaluate(model, tbl, field.images, precision='bf16', progress=False)
        same = np.mean(out32['class_mode'].filled(0) == out16['class_mode'].filled(0))
        print(f'held-out field seed {seed} at {mpc} Mpc, preset {preset!r} (all candidates; '
              f'unclassified edge stamps count as wrong):')
        print(ev32)
        print(f'  bf16 vs fp32: {same:.4f} of the classes identical; bf16 accuracy '
              f'{ev16.accuracy:.4f} vs fp32 {ev32.accuracy:.4f}')
        key = f'seed{seed}_{mpc}Mpc' + ('' if preset == 'v1' else f'_{preset}')
        heldout[key] = {**ev32.to_dict(), 'bf16_identical_fraction': same,
                        'bf16_accuracy': ev16.accuracy, 'preset': preset}
        if args.compare:
            old, _ = evaluate(args.compare, tbl, field.images, precision='fp32', progress=False)
            print(f'  {args.compare} on the same field:')
            print(old)
            compared[key] = old.to_dict()

    meta = {'metrics': {'test': model.meta['metrics']['test'], 'heldout_fields': heldout,
                        'human_agreement_paper': HUMAN_AGREEMENT},
            'training': {**model.meta['training'],
                         'script': 'scripts/train_bundled_model.py',
                         'command': 'python scripts/train_bundled_model.py'
                                    + (f' --preset {args.preset} --name {args.name}'
                                       if args.preset != 'v1' else '')
                                    + (' --quick' if args.quick else ''),
                         'simulator_preset': args.preset,
                         'fields': [list(f) for f in train_fields]},
            'description': 'CompactNet trained on simulated PHANGS-HST-like five-band fields '
                           'only (no real HST images)'
                           + (", simulator preset 'legus' (measured candidates matched to "
                              'LEGUS NGC 1566 and NGC 628)' if legus else '')
                           + '. Use it on simulated data or as a start for fine-tuning; train '
                           'or load a model made from human classifications for real galaxies.',
            'license': 'BSD-3-Clause'}
    os.makedirs(args.out_dir, exist_ok=True)
    if compared:
        meta['metrics']['heldout_fields_compared'] = {'model': args.compare, **compared}
    tmp = os.path.join(args.out_dir, f'compactnet_{args.name}.tmp.safetensors')
    save_checkpoint(model, tmp, meta=meta, overwrite=True)
    digest = sha256_file(tmp)
    name = f'compactnet_{args.name}-{digest[:8]}.safetensors'
    os.replace(tmp, os.path.join(args.out_dir, name))
    path = os.path.join(args.out_dir, name)
    print(f'wrote {path} ({os.path.getsize(path)} bytes) in {time.perf_counter() - started:.0f} s')
    print('record for astro_clusterclass/models/compact.py:')
    print(f"    {args.name.upper()} = _bundled('{name}', '{digest}')")
    print(json.dumps({k: v['accuracy'] for k, v in heldout.items()}))
    if compared:
        print(args.compare, json.dumps({k: v['accuracy'] for k, v in compared.items()}))


if __name__ == '__main__':
    main()

"""
The training loop: batches, optimiser steps, schedule and resume files.

Every random number of batch ``b`` comes from ``(seed, b)`` alone
(`~astro_clusterclass.training._augment.batch_seed`), and the state
(weights, optimiser, learning-rate schedule, history) is written to a
resume file every ``checkpoint_every`` batches and when the run is
interrupted, so a resumed run draws the same batches as an uninterrupted
one and ends with the same weights.
"""

import json
import os
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from .._utils.errors import CheckpointError, one_line
from .._utils.files import atomic_path
from .._utils.integrity import read_torch_file
from .. import __version__
from ._augment import augment, draw_batch
from ._config import OPTIMIZERS

__all__ = ['TrainingLoop', 'STATE_FORMAT']

#: Identifies resume files (and their layout version).
STATE_FORMAT = 'astro_clusterclass-training-state-1'


class TrainingLoop:
    """
    Optimiser, schedule and history of one run over a network.

    Parameters
    ----------
    net : `torch.nn.Module`
        The network to train (on its device).
    config : `~astro_clusterclass.training.TrainingConfig`
    resume_key : dict
        Settings and data fingerprint a resume file must match.
    class_weights : `torch.Tensor` or None
        Cross-entropy class weights.
    """

    def __init__(self, net, config, *, resume_key, class_weights=None):
        self.net = net
        self.config = config
        self.resume_key = resume_key
        device = next(net.parameters()).device
        self.device = device
        opt_class, opt_kwargs = OPTIMIZERS[config.optimizer]
        self.optimizer = opt_class(net.parameters(), lr=config.lr,
                                   weight_decay=config.weight_decay, **opt_kwargs)
        if config.schedule == 'cosine':
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=config.n_batches)
        else:
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)
        self.criterion = nn.CrossEntropyLoss(
            weight=None if class_weights is None else class_weights.to(device))
        self.history = {'batch': [], 'loss': [], 'accuracy': [], 'lr': []}
        self.start = 0

    # -- resume files --------------------------------------------------------

    def state(self, batch):
        """The resume state after ``batch`` batches."""
        return {'format': STATE_FORMAT, 'batch': batch, 'config': json.dumps(self.resume_key),
                'model': {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
                'optimizer': self.optimizer.state_dict(),
                'scheduler': self.scheduler.state_dict(),
                'history': {k: torch.tensor(v, dtype=torch.float64)
                            for k, v in self.history.items()},
                'version': __version__}

    def save(self, path, batch):
        """Write a resume file atomically (a crash never leaves half a file)."""
        with atomic_path(path) as tmp, open(tmp, 'wb') as fh:
            # Through a Python file: a full disk then raises OSError(EFBIG/ENOSPC)
            # inside torch's writer, whose own message does not say why.
            try:
                torch.save(self.state(batch), fh)
            except RuntimeError as exc:
                cause = exc.__context__
                why = (cause.strerror or str(cause)) if isinstance(cause, OSError) else exc
                msg = f'cannot write the training resume file {os.fspath(path)!r}: {why}'
                raise OSError(one_line(msg)) from exc

    def resume(self, path):
        """
        Continue from the resume file ``path`` (its settings and data must match).

        Raises
        ------
        CheckpointError
            A `ValueError`: if the file is truncated or damaged (its zip
            CRCs, its layout), is not a resume file of this package, or was
            written by a run with other settings or data; one line naming
            the file and saying how to start again.
        """
        what = f'checkpoint={os.fspath(path)!r}'
        again = 'delete it or pass resume=False to start again'
        state = read_torch_file(path, f'{what} (training resume file)', advice=again)
        if not isinstance(state, dict) or state.get('format') != STATE_FORMAT:
            msg = f'{what} is not a training resume file of this package; {again}'
            raise CheckpointError(msg)
        try:
            saved = json.loads(state['config'])
            batch = int(state['batch'])
            history = {k: [float(v) for v in state['history'][k].tolist()]
                       for k in self.history}
            model, optimizer, scheduler = state['model'], state['optimizer'], state['scheduler']
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            msg = (f'{what}: the training resume file lacks or garbles {one_line(exc)}; '
                   f'the file is damaged; {again}')
            raise CheckpointError(msg) from exc
        config = self.resume_key
        differ = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
        if differ:
            shown = ', '.join(f'{k}: {saved.get(k)!r} then, {config.get(k)!r} now'
                              for k in differ)
            msg = (f'{what} was written by a run with other settings or data '
                   f'({shown}); pass resume=False to start again, or another checkpoint path')
            raise CheckpointError(msg)
        lengths = {len(v) for v in history.values()}
        if not 0 < batch <= self.config.n_batches or lengths != {batch}:
            msg = (f'{what}: the training resume file says batch {batch} of '
                   f'{self.config.n_batches} with {sorted(lengths)} history entries; the file '
                   f'is damaged; {again}')
            raise CheckpointError(msg)
        try:
            self.net.load_state_dict(model, strict=True)
            self.optimizer.load_state_dict(optimizer)
            self.scheduler.load_state_dict(scheduler)
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
            msg = (f'{what}: the weights or optimiser state of the training resume file do '
                   f'not fit the model ({one_line(exc)[:300]}); {again}')
            raise CheckpointError(msg) from exc
        self.history = history
        self.history['batch'] = [int(v) for v in self.history['batch']]
        self.start = batch

    # -- the loop ------------------------------------------------------------

    def run(self, stamps, targets, train_index, transform, *, weights, checkpoint=None,
            progress=True, callback=None):
        """
        Train from batch ``self.start`` to ``config.n_batches``; returns the seconds spent.

        Each batch draws objects of ``train_index`` with probabilities
        ``weights``, rotates and flips them, and feeds them through
        ``transform`` (the model's own crop and normalisation).
        """
        config, net, dev = self.config, self.net, self.device
        autocast = config.autocast_dtype
        history = self.history
        net.train()
        started = time.perf_counter()
        completed, stepping = self.start, False
        running_loss = running_acc = None
        try:
            with torch.random.fork_rng(devices=[]), \
                    tqdm(total=config.n_batches, initial=self.start, unit='batch',
                         desc='train', disable=not progress) as bar:
                for b in range(self.start, config.n_batches):
                    index, turns, flips = draw_batch(weights, config.batch_size, config.seed, b)
                    rows = train_index[index.numpy()]
                    x = transform(augment(torch.from_numpy(stamps[rows]), turns, flips)).to(dev)
                    y = targets[rows].to(dev)
                    torch.manual_seed(config.seed * 1_000_003 + b)  # dropout of this batch
                    with torch.autocast(dev.type, dtype=autocast, enabled=autocast is not None):
                        logits = net(x)
                        loss = self.criterion(logits.float(), y)
                    stepping = True
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    self.scheduler.step()
                    stepping = False
                    completed = b + 1
                    loss_value = float(loss.detach())
                    acc = float((logits.detach().argmax(1) == y).float().mean())
                    history['batch'].append(b)
                    history['loss'].append(loss_value)
                    history['accuracy'].append(acc)
                    history['lr'].append(float(self.optimizer.param_groups[0]['lr']))
                    running_loss = loss_value if running_loss is None else \
                        0.95 * running_loss + 0.05 * loss_value
                    running_acc = acc if running_acc is None else \
                        0.95 * running_acc + 0.05 * acc
                    bar.set_postfix(loss=f'{running_loss:.3f}', acc=f'{running_acc:.2f}',
                                    refresh=False)
                    bar.update(1)
                    if checkpoint is not None and completed % config.checkpoint_every == 0 \
                            and completed < config.n_batches:
                        self.save(checkpoint, completed)
                    if callback is not None:
                        callback(b, loss_value, acc)
        except BaseException:
            # Interrupted (Ctrl-C, a failing callback, ...): keep the last
            # complete batch so that ``resume=True`` continues from there. A
            # batch interrupted inside the optimiser step is not complete.
            if checkpoint is not None and not stepping and completed > self.start:
                self.save(checkpoint, completed)
            raise
        return time.perf_counter() - started

"""
The paper's training batches: random objects, random 90-degree rotations and flips.

Whitmore et al. (2021, Appendix 10.2): every batch draws objects at random,
rotates each by a random multiple of 90 degrees and flips it with
probability 0.5. Every random number of batch ``b`` comes from a generator
seeded with ``(seed, b)`` alone, so that a run resumed at batch ``b`` draws
exactly the batches an uninterrupted run would have drawn.
"""

import numpy as np
import torch

from .._utils.validation import check_choice
from ..classes import CLASSES

__all__ = ['BALANCE', 'batch_seed', 'sampling_weights', 'loss_weights', 'draw_batch',
           'augment']

#: Ways to handle class imbalance: ``'sampling'`` draws every class equally
#: often, ``'weights'`` draws objects uniformly and weights the loss by
#: inverse class frequency, `None` does neither.
BALANCE = ('sampling', 'weights', None)


def batch_seed(seed, batch):
    """Seed of batch ``batch`` of a run seeded with ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([int(seed), int(batch)]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))


def _check_balance(balance):
    check_choice(balance, BALANCE, 'balance')


def sampling_weights(labels, balance):
    """Probability of drawing each object (float64 tensor)."""
    _check_balance(balance)
    labels = np.asarray(labels)
    if balance == 'sampling':
        counts = {k: max(int(np.sum(labels == k)), 1) for k in CLASSES}
        weights = np.array([1.0 / counts[int(k)] for k in labels])
    else:
        weights = np.ones(len(labels))
    return torch.from_numpy(weights / weights.sum())


def loss_weights(labels, balance, categories=CLASSES):
    """Cross-entropy class weights (inverse frequency for ``'weights'``), or None."""
    _check_balance(balance)
    if balance != 'weights':
        return None
    labels = np.asarray(labels)
    counts = np.array([max(int(np.sum(labels == k)), 1) for k in categories], dtype=float)
    return torch.tensor(len(labels) / (len(categories) * counts), dtype=torch.float32)


def draw_batch(weights, batch_size, seed, batch):
    """
    Objects, rotations and flips of one batch.

    Returns
    -------
    index : `torch.Tensor`
        ``(batch_size,)`` positions into ``weights`` (drawn with replacement).
    quarter_turns : `torch.Tensor`
        ``(batch_size,)`` rotations by ``k * 90`` degrees, k in 0-3.
    flips : `torch.Tensor`
        ``(batch_size,)`` bool, left-right flip after the rotation.
    """
    gen = torch.Generator().manual_seed(batch_seed(seed, batch))
    index = torch.multinomial(weights, batch_size, replacement=True, generator=gen)
    quarter_turns = torch.randint(0, 4, (batch_size,), generator=gen)
    flips = torch.rand(batch_size, generator=gen) < 0.5
    return index, quarter_turns, flips


def augment(stamps, quarter_turns, flips):
    """
    Rotate and flip square stamps ``(N, C, S, S)`` (a new tensor).

    With odd ``S`` the centre pixel ``S // 2`` stays in place.

    Examples
    --------
    >>> import torch
    >>> from astro_clusterclass.training._augment import augment
    >>> x = torch.arange(9.).view(1, 1, 3, 3)
    >>> augment(x, torch.tensor([1]), torch.tensor([False]))[0, 0]
    tensor([[2., 5., 8.],
            [1., 4., 7.],
            [0., 3., 6.]])
    """
    out = stamps.clone()
    for k in range(1, 4):
        rows = torch.nonzero(quarter_turns == k).flatten()
        if len(rows):
            out[rows] = torch.rot90(stamps[rows], k, dims=(-2, -1))
    rows = torch.nonzero(flips).flatten()
    if len(rows):
        out[rows] = out[rows].flip(-1)
    return out

"""The settings of a training run, validated once: `TrainingConfig`."""

from dataclasses import asdict, dataclass

import torch

from .._utils.validation import (check_choice, check_float, check_int, non_negative_float,
                                 positive_float, positive_int)
from ..classify import PRECISIONS, check_precision
from ._augment import BALANCE

__all__ = ['TrainingConfig', 'OPTIMIZERS', 'SCHEDULES', 'SPLITS']

#: Optimisers by name: (class, extra keywords).
OPTIMIZERS = {
    'adamw': (torch.optim.AdamW, {}),
    'adam': (torch.optim.Adam, {}),
    'sgd': (torch.optim.SGD, {'momentum': 0.9, 'nesterov': True}),
}

#: Learning-rate schedules over the run.
SCHEDULES = ('cosine', 'constant')

#: How the test split is drawn: objects class by class, or whole groups.
SPLITS = ('object', 'group')


@dataclass(frozen=True)
class TrainingConfig:
    """
    The hyper-parameters of one training run (see `~astro_clusterclass.training.train_model`).

    Every field is checked when the object is made; errors name the field.

    Examples
    --------
    >>> from astro_clusterclass.training import TrainingConfig
    >>> config = TrainingConfig(n_batches=100, lr=3e-4)
    >>> config.n_batches, config.optimizer, config.autocast_dtype is None
    (100, 'adamw', True)
    >>> TrainingConfig(optimizer='lbfgs')
    Traceback (most recent call last):
    ...
    ValueError: optimizer must be one of 'adamw', 'adam', 'sgd'; got 'lbfgs'
    """

    n_batches: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = 'adamw'
    weight_decay: float = 1e-4
    schedule: str = 'cosine'
    balance: str = 'sampling'
    test_fraction: float = 0.2
    split: str = 'object'
    test_groups: tuple = None
    seed: int = 0
    split_seed: int = None
    precision: str = 'fp32'
    checkpoint_every: int = 500

    def __post_init__(self):
        put = object.__setattr__
        put(self, 'n_batches', positive_int(self.n_batches, 'n_batches'))
        put(self, 'batch_size', positive_int(self.batch_size, 'batch_size'))
        put(self, 'checkpoint_every', positive_int(self.checkpoint_every, 'checkpoint_every'))
        put(self, 'lr', positive_float(self.lr, 'lr'))
        put(self, 'weight_decay', non_negative_float(self.weight_decay, 'weight_decay'))
        check_choice(self.optimizer, tuple(OPTIMIZERS), 'optimizer')
        check_choice(self.schedule, SCHEDULES, 'schedule')
        check_choice(self.balance, BALANCE, 'balance')
        check_choice(self.split, SPLITS, 'split')
        check_precision(self.precision, allow_auto=False)
        put(self, 'test_fraction', check_float(self.test_fraction, 'test_fraction', minimum=0,
                                               maximum=1, inclusive=False))
        put(self, 'seed', check_int(self.seed, 'seed'))
        put(self, 'split_seed', self.seed if self.split_seed is None
            else check_int(self.split_seed, 'split_seed'))
        if self.test_groups is not None:
            put(self, 'test_groups', tuple(sorted(str(g) for g in self.test_groups)))

    @property
    def autocast_dtype(self):
        """The autocast dtype of the forward and backward passes (None for fp32)."""
        return None if self.precision == 'fp32' else PRECISIONS[self.precision]

    def to_dict(self):
        """JSON-serialisable settings (resume files, checkpoint metadata)."""
        out = asdict(self)
        out['test_groups'] = None if self.test_groups is None else list(self.test_groups)
        return out

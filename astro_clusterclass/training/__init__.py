"""Training classifiers from labelled candidates, and scoring them against labels."""

from ._augment import BALANCE  # noqa: F401
from ._config import OPTIMIZERS, SCHEDULES, SPLITS, TrainingConfig  # noqa: F401
from ._data import (TrainingSet, make_training_set, simulated_training_set,  # noqa: F401
                    split_train_test)
from ._evaluate import HUMAN_AGREEMENT, Evaluation, evaluate, evaluate_classes  # noqa: F401
from ._train import TrainingResult, train_ensemble, train_model  # noqa: F401

__all__ = ['TrainingSet', 'make_training_set', 'simulated_training_set',
           'split_train_test', 'train_model', 'train_ensemble', 'TrainingConfig',
           'TrainingResult', 'Evaluation', 'evaluate', 'evaluate_classes',
           'HUMAN_AGREEMENT', 'BALANCE', 'OPTIMIZERS', 'SCHEDULES', 'SPLITS']

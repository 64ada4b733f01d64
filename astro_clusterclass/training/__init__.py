"""Training classifiers from labelled candidates, and scoring them against labels."""

from ._augment import BALANCE  # noqa: F401
from ._data import (TrainingSet, make_training_set, simulated_training_set,  # noqa: F401
                    split_train_test)
from ._evaluate import (HUMAN_AGREEMENT, Evaluation, evaluate, evaluate_classes,  # noqa: F401
                        predict_stamps)
from ._train import (OPTIMIZERS, SCHEDULES, TrainingResult, train_ensemble,  # noqa: F401
                     train_model)

__all__ = ['TrainingSet', 'make_training_set', 'simulated_training_set',
           'split_train_test', 'train_model',
           'train_ensemble', 'TrainingResult', 'Evaluation', 'evaluate', 'evaluate_classes',
           'predict_stamps', 'HUMAN_AGREEMENT', 'BALANCE', 'OPTIMIZERS', 'SCHEDULES']

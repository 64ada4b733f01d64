"""Model registry, architectures, checkpoints and inference preparation."""

from ._api import (DEFAULT_CUTOUT_SIZE, REAL_DATA_RECIPE, REQUIRED_META,  # noqa: F401
                   WEIGHTS_DIR, Weights, WeightsEnum, default_weights, get_model,
                   get_model_builder, get_model_weights, get_weight, list_models,
                   register_model, trained_on)
from ._stem import RGB_CHANNEL_OF_BAND, adapt_input_conv  # noqa: F401
from .compact import CompactNet, CompactNet_Weights, compactnet  # noqa: F401
from .resnet import ResNet18_Weights, resnet18  # noqa: F401
from .vgg import (FoldedVGG, VGG19_BN_Weights, fold_classifier, unfold_classifier,  # noqa: F401
                  vgg19_bn)
from .starcnet import (STARCNET_CITATION, STARCNET_LICENSE, STARCNET_MEAN,  # noqa: F401
                       STARCNET_SHIFT, STARCNET_URL, StarcNet, StarcNet_Weights, starcnet,
                       starcnet_normalization)
from ._checkpoint import (check_meta, fetch_checkpoint, load_checkpoint,  # noqa: F401
                          read_checkpoint_meta, save_checkpoint, sha256_file)
from ._loading import ModelReference, load_model, model_reference, resolve_source  # noqa: F401
from ._inference import prepare_for_inference  # noqa: F401
from .._utils.errors import CheckpointError  # noqa: F401
from ._import import import_checkpoint, read_state_dict  # noqa: F401

__all__ = ['CheckpointError', 'Weights', 'WeightsEnum', 'register_model', 'get_model',
           'get_model_builder',
           'get_model_weights', 'get_weight', 'list_models', 'default_weights',
           'DEFAULT_CUTOUT_SIZE', 'WEIGHTS_DIR', 'REQUIRED_META', 'adapt_input_conv',
           'RGB_CHANNEL_OF_BAND', 'CompactNet', 'CompactNet_Weights', 'compactnet',
           'ResNet18_Weights', 'resnet18', 'VGG19_BN_Weights', 'vgg19_bn', 'FoldedVGG',
           'fold_classifier', 'unfold_classifier', 'save_checkpoint', 'load_checkpoint',
           'load_model', 'check_meta', 'sha256_file', 'read_checkpoint_meta',
           'prepare_for_inference', 'fetch_checkpoint', 'resolve_source', 'model_reference',
           'ModelReference', 'StarcNet', 'StarcNet_Weights', 'starcnet', 'STARCNET_MEAN',
           'STARCNET_SHIFT', 'STARCNET_CITATION', 'STARCNET_LICENSE', 'STARCNET_URL',
           'starcnet_normalization', 'import_checkpoint', 'read_state_dict', 'trained_on',
           'REAL_DATA_RECIPE']

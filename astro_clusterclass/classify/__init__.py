"""
The classification engine.

`Ensemble` holds one model or several prepared for inference and does the
work: cut one stamp per candidate, give each member its own
`~astro_clusterclass.preprocessing.StampTransform`, predict, and build
the result columns (with the uncertainty columns and, when asked, the
calibration of `astro_clusterclass.calibration`). `classify_table` runs it
on a candidate table;
`consolidate` computes the ensemble statistics of Whitmore et al. (2021);
`astro_clusterclass.distributed` runs the same engine on a Dask cluster
from an `EnsembleSpec`.

Layout: ``_ensemble`` (Ensemble, EnsembleSpec, Member), ``_table``
(classify_table and its option checks), ``_consolidate`` (the paper's
statistics), ``_device`` (device and precision), ``_quantize`` (the int8
copies and their check against fp32), ``_pages`` (releasing memory-mapped
image pages).
"""

from ._consolidate import ENSEMBLE_COLUMNS, consolidate  # noqa: F401
from ._device import (PRECISIONS, check_device, check_precision, native_bf16,  # noqa: F401
                      resolve_device, resolve_precision)
from ._ensemble import (DEFAULT_SKIP_FLAGS, ClassFlag, Ensemble, EnsembleSpec,  # noqa: F401
                        Member, images_simulated)
from ._quantize import (INT8_CALIBRATION_SIZE, INT8_MAX_FALLBACK,  # noqa: F401
                        INT8_MIN_AGREEMENT, INT8_MIN_CHECK_STAMPS, Int8Module,
                        QuantizationRefusedError, close_calls, float_layers, int8_agreement,
                        quantization_engine)
from ._table import check_options, classify_table  # noqa: F401

__all__ = ['classify_table', 'Ensemble', 'EnsembleSpec', 'Member', 'consolidate',
           'ENSEMBLE_COLUMNS', 'DEFAULT_SKIP_FLAGS', 'PRECISIONS', 'resolve_device',
           'resolve_precision', 'check_device', 'check_precision', 'check_options',
           'native_bf16', 'ClassFlag', 'images_simulated', 'QuantizationRefusedError',
           'INT8_MIN_AGREEMENT', 'INT8_CALIBRATION_SIZE', 'quantization_engine', 'Int8Module',
           'int8_agreement', 'float_layers', 'close_calls', 'INT8_MAX_FALLBACK',
           'INT8_MIN_CHECK_STAMPS']

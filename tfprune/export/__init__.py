"""Edge export: TFLite for phones, verified full-int8 C arrays for microcontrollers.

Public functions: :func:`tflite`, :func:`micro`, :func:`verify`, :func:`latency`,
:func:`advise` (which pruning pattern pays on which runtime), :func:`cluster` (few
distinct weight values, for ``micro(compress="lut")``).
Pruning wrappers are stripped first; the model passed in is never modified. Every file is
written atomically, only after all checks passed, with the umask's permissions (or the
replaced file's). Multi-input/multi-output models, token-id (Embedding) inputs and LSTM/GRU
layers are supported; documented bounds: ``FLOAT_TOLERANCE`` (float file vs Keras, relative)
and ``TFLM_STEP_TOLERANCE`` (TFLM vs LiteRT, int8 steps).

Example:
    >>> from tfprune.compat import keras
    >>> from tfprune import export
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> len(export.tflite_bytes(m)) > 0
    True
"""

from __future__ import annotations

from tfprune.export.advice import Advice, advise
from tfprune.export.compress.cluster import cluster
from tfprune.export.micro_file import TFLM_STEP_TOLERANCE, MicroRecord, micro
from tfprune.export.tflite_file import FLOAT_TOLERANCE, ExportRecord, tflite, tflite_bytes
from tfprune.export.timing import Latency, latency
from tfprune.export.verification import Verification, verify

__all__ = [
    "Advice",
    "FLOAT_TOLERANCE",
    "TFLM_STEP_TOLERANCE",
    "ExportRecord",
    "Latency",
    "MicroRecord",
    "Verification",
    "advise",
    "cluster",
    "latency",
    "micro",
    "tflite",
    "tflite_bytes",
    "verify",
]


"""The task of each model output, and the loss and metrics that fit it: one resolution.

Every part of tfprune that measures a model (sensitivity, verify, the tuner, recipes) asks
this module what each output is instead of assuming classification. Per output, the kind is

- ``"sparse_categorical"``: class scores, integer labels;
- ``"categorical"``: class scores, one-hot labels;
- ``"binary"``: 0/1 targets (one unit, or several independent labels);
- ``"regression"``: values (also reconstructions: autoencoders);

and ``per_position`` says the output has axes between the batch and the last one (pixels,
time steps: segmentation, autoencoders). The kind comes, in this order, from an explicit
``task=``, the compiled loss (tf_keras or Keras 3 objects or names), the compiled metrics,
the output's activation (softmax: class scores) and the labels (non-integer or non-0/1
values: regression; integer ids for a several-unit output: sparse; one-hot rows:
categorical). What none of these settles stays ``None`` and is refused only where it
matters (``metric="accuracy"``).

Resolution lives in :mod:`tfprune.task.resolution`, the measures that fit each kind in
:mod:`tfprune.task.metrics`; every name is importable from ``tfprune.task``.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="price")])
    >>> m.compile(loss="mse")
    >>> t = resolve(m)[0]
    >>> t.output, t.kind, t.source
    ('price', 'regression', "loss 'mse'")
    >>> metric(t, "accuracy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tfprune.errors.ConfigError: metric='accuracy' cannot apply to output 'price'...
"""

from __future__ import annotations

from tfprune.task.metrics import Metric, check_metric, direction, metric
from tfprune.task.resolution import (
    KINDS,
    OutputTask,
    compiled_metrics,
    default_loss,
    default_metrics,
    metric_names,
    resolve,
)

__all__ = ["KINDS", "OutputTask", "Metric", "resolve", "metric", "check_metric", "direction",
           "default_loss", "default_metrics", "metric_names", "compiled_metrics"]

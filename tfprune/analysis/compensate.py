"""Least-squares refit of the layers that consume removed channels (no fine-tuning).

The implementation lives in :mod:`tfprune.structured.refit` (``one_shot(..., compensate=True)``
uses it too); this is its analysis-side name.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> from tfprune.structured import Plan
    >>> m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="h"),
    ...                       keras.layers.Dense(2, name="out")])
    >>> x = np.random.rand(64, 6).astype("float32")
    >>> c = compensate(m, Plan({"h": (0, 1, 2, 3)}, {"h": 8}), x)
    >>> bool((c.get_layer("out").kernel.numpy()[4:] == 0).all())
    True
"""

from tfprune.structured.refit import compensate

__all__ = ["compensate"]

"""Compensate a channel plan: zero its channels and refit their consumers by least squares.

Stop of the path: between ``structured.plan``/``allocate(...).plan`` and ``shrink``
(``tfprune.analysis.compensate``). The refit itself (one ridge regression per consuming
layer, in graph order, then the BatchNormalization statistics re-estimated) is
:mod:`tfprune.masking.refit`, which ``one_shot(..., compensate=True)`` runs on its masks:

    W', b' = argmin || X_masked[:, kept] W' + b' - (X W + b) ||^2 + damp * ||W'||^2

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> from tfprune.structured import Plan
    >>> m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="h"),
    ...                       keras.layers.Dense(2, name="out")])
    >>> x = np.random.rand(256, 6).astype("float32")
    >>> c = compensate(m, Plan({"h": (0, 1, 2, 3, 4)}, {"h": 8}), x)
    >>> bool((c.get_layer("h").kernel.numpy()[:, 5:] == 0).all())
    True
"""

from __future__ import annotations

import numpy as np

from tfprune import graph as graph_lib
from tfprune import structured
from tfprune.masking import refit
from tfprune.structured import plans, rebuild

__all__ = ["compensate"]


def compensate(model, plan, data, *, damp: float = 1e-3, max_rows: int = 40_000, seed: int = 0,
               refitted: list | None = None, bn: bool = True):
    """Apply ``plan`` (zeroing channels) and refit the consumers by least squares.

    Args:
        model: a built tf_keras Functional/Sequential model (not modified).
        plan: a :class:`tfprune.structured.Plan` (e.g. ``allocation.plan(model)``).
        data: calibration inputs ``x`` (an array; ``(x, y)`` is accepted, ``y`` unused).
        damp: ridge term, relative to the mean diagonal of ``A^T A``.
        max_rows: regression rows sampled per layer (patches for convolutions).
        seed: sampling seed.
        refitted: if a list, the names of the refitted layers are appended to it (and of
            the BatchNormalization layers whose statistics were re-estimated).
        bn: after the refit, re-estimate the BatchNormalization moving statistics on
            ``data`` (:func:`tfprune.masking.refit.recalibrate_bn`).

    Returns:
        A new model: ``structured.apply_masks(model, plan)`` with the refitted consumer
        kernels and biases (removed channels stay exactly zero, so ``shrink`` works) and
        re-estimated BatchNormalization statistics.

    Raises:
        ConfigError: fewer than 16 calibration samples.
    """
    x = refit.inputs_array(data)
    refit.check_samples(x)
    masked = structured.apply_masks(model, plan)
    g = graph_lib.build(model)
    keep = plans.keep_masks(g, plan)
    masks = rebuild.weight_masks(g, keep)
    todo = []
    for u in g.uses:
        if u.role == "in" and refit.fits(u.layer) and u.attr == "kernel" and u.path not in todo:
            if not g.keep_positions(u.atoms, keep).all():
                todo.append(u.path)
    order = [la.name for la in model.layers if la.name in todo]
    if refitted is not None:
        refitted.extend(order)
    ones = {name: np.ones(model.get_layer(name).kernel.shape, np.float32) for name in order}
    refit.refit_layers(model, masked, order,
                       {n: (masks.get(f"{n}/kernel", ones[n]), masks.get(f"{n}/bias"))
                        for n in order}, x, damp=damp, max_rows=max_rows, seed=seed)
    if bn:
        recalibrated = refit.recalibrate_bn(masked, x)
        if refitted is not None:
            refitted.extend(recalibrated)
    return masked

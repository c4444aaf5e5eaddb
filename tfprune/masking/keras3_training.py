"""Training a pruned subclassed Keras 3 model: mask updates at the schedule's steps and the
pruned weights zeroed after every batch (what ``tfprune.PruningCallback`` does in Keras 3's
``fit`` for such a model; :mod:`tfprune.masking.keras3_subclassed` prunes it).

Example:
    >>> import numpy as np, keras, tfprune
    >>> class M(keras.Model):
    ...     def __init__(self, **kw):
    ...         super().__init__(**kw)
    ...         self.fc = keras.layers.Dense(4)
    ...     def call(self, x):
    ...         return self.fc(x)
    >>> m = M(); _ = m(np.zeros((1, 4), "float32"))
    >>> p = tfprune.prune(m, sparsity=0.5); update_masks(p, 0)
    >>> float((p.fc.kernel.numpy() == 0).mean())
    0.5
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune.core import masks as masks_lib
from tfprune.masking import keras3_slots as slots3

__all__ = ["update_masks", "Training", "before_step"]


def update_masks(model, step: int) -> None:
    """Masks at the schedule's sparsity for ``step`` (one ranking per layer, or one global
    ranking under one budget of weights), then the pruned weights zeroed."""
    state = slots3.state_of(model)
    if state.ranking == "global":
        pairs = [(lm, i) for lm in state.layers for i in range(len(lm.pruning_vars))]
        scores = [lm.unit_scores(i) for lm, i in pairs]
        sizes = [int(np.prod(lm.pruning_vars[i][0].shape)) // max(int(tf.size(s)), 1)
                 for (lm, i), s in zip(pairs, scores, strict=True)]
        units = masks_lib.global_keep_masks(scores, state.target(step), min_per_tensor=1,
                                            unit_sizes=sizes)
        for (lm, i), unit in zip(pairs, units, strict=True):
            _, mask, thr = lm.pruning_vars[i]
            mask.assign(tf.cast(lm.expand(i, unit), mask.dtype))
            thr.assign(tf.zeros([], thr.dtype))
    else:
        for lm in state.layers:
            target = tf.constant(state.target(step, lm.sparsity_scale), tf.float32)
            for i, (_, mask, thr) in enumerate(lm.pruning_vars):
                t, m = lm.mask_for(i, target)
                mask.assign(m)
                thr.assign(t)
    slots3.assign_masked(model)


class Training:
    """What ``PruningCallback`` does for a subclassed Keras 3 model in Keras 3's ``fit``:
    masks at the schedule's steps (before the step they are due at), pruned weights zeroed
    after every training batch, the pruning step kept on the model (later ``fit`` calls go
    on from it). With ``steps_per_execution=k`` it acts once per k steps.

    Example:
        >>> import numpy as np, keras, tfprune
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(np.zeros((1, 4), "float32"))
        >>> t = Training(tfprune.prune(m, sparsity=0.5)); t.begin()
        >>> t.report()["sparsity"]
        0.5
    """

    def __init__(self, model):
        self.model = model
        self.state = slots3.state_of(model)
        self._base = self.state.step

    def begin(self) -> None:
        """Training starts: a fresh model gets step 0 and the masks due at step 0."""
        if self.state.step < 0:
            self.state.step = 0
            if self.state.fires(0):
                update_masks(self.model, 0)
        self._base = self.state.step

    def epoch_begin(self) -> None:
        """An epoch starts: batch numbers count from the model's step again."""
        self._base = self.state.step

    def batch_begin(self, batch: int) -> None:
        """Before step ``base + batch + 1``: the latest mask update due since the last one."""
        due = [s for s in range(self.state.step + 1, self._base + batch + 2)
               if self.state.fires(s)]
        if due:
            update_masks(self.model, due[-1])

    def batch_end(self, batch: int) -> None:
        """After the step: the step counted, the pruned weights zeroed again."""
        self.state.step = max(self.state.step, self._base + batch + 1)
        slots3.assign_masked(self.model)

    def report(self) -> dict:
        """:func:`tfprune.masking.keras3_slots.sparsity_report` of the model."""
        return slots3.sparsity_report(self.model)

    def check_finite(self) -> str | None:
        """What holds NaN/inf among the model's trainable weights, or None."""
        for var in self.model.trainable_weights:
            if not np.all(np.isfinite(var.numpy())):
                return f"weight {var.path} holds NaN/inf"
        return None


def before_step(model) -> None:
    """:func:`tfprune.before_step` for a pruned subclassed Keras 3 model in a custom training
    loop: the masks due at the coming step, the pruned weights zeroed (whatever the last
    optimizer step did to them), the step counted.

    Example:
        >>> import numpy as np, keras, tfprune
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(np.zeros((1, 4), "float32"))
        >>> p = tfprune.prune(m, sparsity=0.5)
        >>> before_step(p); slots3.state_of(p).step, float((p.fc.kernel.numpy() == 0).mean())
        (1, 0.5)
    """
    training = Training(model)
    if training.state.step < 0:
        training.begin()
    training.batch_begin(0)
    training.batch_end(0)

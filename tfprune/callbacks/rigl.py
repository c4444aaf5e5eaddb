"""Prune-and-regrow at constant sparsity: RigL (gradient regrowth) and SET (random)."""

from __future__ import annotations

import logging
import math

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.callbacks import dynamic as _dynamic
from tfprune.compat import keras
from tfprune.masking import pruner

__all__ = ["RigL", "SET", "drop_and_grow"]

log = logging.getLogger(__name__)


def drop_and_grow(weight, mask, grow_scores, fraction) -> tuple[tf.Tensor, tf.Tensor]:
    """One prune-and-regrow step on one tensor; the number of active entries is unchanged.

    ``k = round(fraction * active)`` active entries with the smallest ``|weight|`` are
    dropped; the ``k`` entries with the largest ``grow_scores`` among those inactive after
    the drop (the just-dropped included, as in RigL) are grown.

    Args:
        weight: the weight tensor.
        mask: its 0/1 mask (same shape).
        grow_scores: same shape; larger means grow first (``|gradient|`` or random).
        fraction: fraction of the active entries to swap, in [0, 1].

    Returns:
        ``(new_mask, grown)``: float32 0/1 tensors of ``weight``'s shape; ``grown`` marks
        entries that were inactive and are now active (they must start at zero).

    Example:
        >>> m, g = drop_and_grow(tf.constant([3., 1., 0., 0.]), tf.constant([1., 1., 0., 0.]),
        ...                      tf.constant([0., 0., 5., 1.]), 0.5)
        >>> m.numpy(), g.numpy()
        (array([1., 0., 1., 0.], dtype=float32), array([0., 0., 1., 0.], dtype=float32))
    """
    shape = tf.shape(weight)
    active = tf.reshape(tf.cast(mask, tf.float32) > 0, [-1])
    n = tf.size(active)
    n_active = tf.reduce_sum(tf.cast(active, tf.int32))
    k = tf.cast(tf.math.round(tf.cast(n_active, tf.float64) * float(fraction)), tf.int32)
    neg = tf.fill([n], -np.inf)
    drop_scores = tf.where(active, tf.abs(tf.reshape(tf.cast(weight, tf.float32), [-1])), neg)
    kept = _top(drop_scores, n_active - k, n)
    grow = tf.where(kept > 0, neg, tf.reshape(tf.cast(grow_scores, tf.float32), [-1]))
    grown = _top(grow, k, n)
    new_mask = kept + grown
    grown = grown * (1.0 - tf.cast(active, tf.float32))
    return tf.reshape(new_mask, shape), tf.reshape(grown, shape)


def _top(scores, k, n):
    _, idx = tf.math.top_k(scores, k=k, sorted=False)
    return tf.scatter_nd(tf.expand_dims(idx, 1), tf.ones([k], tf.float32), [n])


class RigL(keras.callbacks.Callback):
    """Rigged Lottery: drop the weakest active weights, regrow where the gradient is largest.

    Every ``frequency`` training steps until ``end_step``, in each prunable weight a
    fraction ``f(t) = drop_fraction / 2 * (1 + cos(pi * t / end_step))`` of the active
    entries with the smallest magnitude is dropped and the same number is grown where the
    dense gradient magnitude ``|dL/dw|`` is largest. Grown weights start at zero. The
    number of active weights of every tensor, hence the sparsity, never changes; the
    masks do. ``logs["rigl_regrown"]`` counts the entries regrown during the epoch.

    Gradients: Keras callbacks do not see the training batch, so the gradient is taken on
    a batch drawn from ``data`` (the next ``batch_size`` rows, cycling; or the next
    element of a ``tf.data.Dataset``) with the model in inference mode. The wrapper's
    forward pass uses the masked weight variable itself, so this gradient is dense: it is
    defined for the pruned entries too.

    The step is the model's pruning step; the regrowth at a step depends only on the
    step, the weights and ``data``, and the run's end step is kept in a variable attached
    to the model, so ``BackupAndRestore`` (placed after this callback) resumes a killed run
    exactly.

    Start from a sparse model: prune first (``tfprune.one_shot``, or a schedule such as
    ``OneShot`` / ``AGP`` that finishes before the first RigL update, or ``Manual`` with
    masks set beforehand). A schedule that recomputes masks after RigL has started is
    refused.

    Args:
        data: ``(x, y)`` arrays or a ``tf.data.Dataset`` of ``(x, y)`` batches; needed for
            ``grow="gradient"``.
        frequency: steps between updates (``delta T``; 100 in the paper).
        drop_fraction: initial fraction swapped (``alpha``; 0.3 in the paper), in (0, 1].
        end_step: last update step (default: 75% of the steps of ``fit``).
        batch_size: rows per gradient batch when ``data`` is arrays.
        loss: loss ``fn(y, y_pred)``; default: the model's compiled loss (a single one).
        grow: ``"gradient"`` (RigL) or ``"random"`` (SET).
        seed: seed of the random regrowth.

    Example:
        >>> import numpy as np, tfprune
        >>> from tfprune.compat import keras
        >>> from tensorflow_model_optimization.python.core.sparsity.keras import prune
        >>> m = prune.prune_low_magnitude(keras.Sequential([keras.Input((4,)),
        ...     keras.layers.Dense(8)]), pruning_schedule=tfprune.schedules.OneShot(0.5))
        >>> m.compile("sgd", "mse")
        >>> x, y = np.random.rand(32, 4), np.random.rand(32, 8)
        >>> r = RigL((x, y), frequency=2, end_step=4)
        >>> _ = m.fit(x, y, batch_size=8, verbose=0, callbacks=[r])
        >>> float(1 - m.layers[0].pruning_vars[0][1].numpy().mean())
        0.5

    References:
        Evci et al., "Rigging the Lottery: Making All Tickets Winners", ICML 2020.
        https://arxiv.org/abs/1911.11134
    """

    def __init__(self, data=None, *, frequency: int = 100, drop_fraction: float = 0.3,
                 end_step: int | None = None, batch_size: int = 32, loss=None,
                 grow: str = "gradient", seed: int = 0):
        super().__init__()
        owner = type(self).__name__
        if grow not in ("gradient", "random"):
            raise errors.unknown_name("grow mode", grow, ["gradient", "random"])
        if grow == "gradient" and data is None:
            raise errors.ConfigError(
                f"{owner}: gradient regrowth needs data=(x, y) or a tf.data.Dataset of (x, y) "
                "batches to compute gradients on; or use tfprune.callbacks.rigl.SET (random regrowth).")
        if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency <= 0:
            raise errors.ConfigError(
                f"{owner}: `frequency` must be a positive number of steps, got {frequency!r}.")
        if not 0.0 < drop_fraction <= 1.0:
            raise errors.ConfigError(
                f"{owner}: `drop_fraction` must be in (0, 1] (0.3 in the paper), got "
                f"{drop_fraction}.")
        if end_step is not None and (not isinstance(end_step, int) or end_step <= 0):
            raise errors.ConfigError(
                f"{owner}: `end_step` must be a positive step or None, got {end_step!r}.")
        if batch_size < 1:
            raise errors.ConfigError(f"{owner}: `batch_size` must be >= 1, got {batch_size}.")
        if data is not None and not isinstance(data, tf.data.Dataset) and not (
                isinstance(data, (tuple, list)) and len(data) == 2):
            raise errors.ConfigError(
                f"{owner}: `data` must be (x, y) arrays or a tf.data.Dataset of (x, y) "
                f"batches, got {type(data).__name__}.")
        self.data, self.frequency, self.drop_fraction = data, frequency, float(drop_fraction)
        self.end_step, self.batch_size, self.loss = end_step, int(batch_size), loss
        self.grow, self.seed = grow, int(seed)
        self._reset()

    def _reset(self):
        self.history = []  # (step, regrown entries) of this fit
        self._epoch_regrown, self._before = 0, None
        self._wrappers, self._loss_fn, self._state = [], None, None

    def get_state(self) -> dict:
        """The run state (``active``, ``end``) as arrays; the step is the model's."""
        if self._state is None:
            raise errors.ConfigError(f"{type(self).__name__}.get_state: no run yet.")
        return _dynamic.state_dict(self._state)

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state` (after ``on_train_begin``)."""
        if self._state is None:
            raise errors.ConfigError(f"{type(self).__name__}.set_state: no run yet.")
        _dynamic.load_state_dict(self._state, state, type(self).__name__)

    @property
    def _end(self) -> int:
        return int(self._state.end.numpy())

    def on_train_begin(self, logs=None):
        self._reset()
        owner = type(self).__name__
        self._wrappers = _dynamic.wrappers_or_raise(self.model, owner)
        step = _dynamic.start_steps(self.model)
        length = _dynamic.fit_length(self)
        first = (step // self.frequency + 1) * self.frequency
        _dynamic.refuse_active_schedules(self._wrappers, first, step + length, owner)
        if self.grow == "gradient":
            self._loss_fn = self._resolve_loss()
        self._state, _ = _dynamic.run_state(self.model, "rigl", {"active": 0, "end": 0})
        if not int(self._state.active.numpy()):  # else: resuming (restored by a checkpoint)
            end = self.end_step if self.end_step is not None else step + int(0.75 * length)
            self._state.end.assign(end)
            self._state.active.assign(1)
        if _dynamic.overall_sparsity(self.model) == 0.0:
            log.warning("%s: the masks are dense, so there is nothing to swap; prune first "
                        "(tfprune.one_shot, or a OneShot/AGP schedule).", owner)

    def on_train_batch_begin(self, batch, logs=None):
        self._before = pruner.global_step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        # the step is the model's pruning step (one counter); with steps_per_execution > 1
        # several steps pass between two calls
        step = pruner.global_step(self.model)
        before = step - 1 if self._before is None else self._before
        for due in range((before // self.frequency + 1) * self.frequency, step + 1,
                         self.frequency):
            if 0 < due <= self._end:
                self.update(due)
        self._before = step

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["rigl_regrown"] = self._epoch_regrown
        self._epoch_regrown = 0

    def on_train_end(self, logs=None):
        if self._state is not None:
            self._state.active.assign(0)

    def update(self, step: int) -> int:
        """Drop and regrow once at ``step`` (callable from a custom loop). Returns regrown.

        Everything it uses is a function of ``step`` (the cosine fraction, the gradient
        batch, the random scores), so a resumed run repeats the uninterrupted one.
        """
        end = self._end if self._state is not None else (self.end_step or step)
        fraction = self.drop_fraction / 2 * (1 + math.cos(math.pi * min(step, end)
                                                          / max(end, 1)))
        triples = _dynamic.triples(self._wrappers)
        scores = self._grow_scores([w for _, w, _ in triples], step)
        regrown = 0
        for (_, weight, mask), score in zip(triples, scores, strict=True):
            new_mask, grown = drop_and_grow(weight, mask, score, fraction)
            keep = tf.cast(new_mask * (1.0 - grown), weight.dtype)  # grown start at zero
            mask.assign(tf.cast(new_mask, mask.dtype))
            weight.assign(weight * keep)
            regrown += int(tf.reduce_sum(grown))
        self.history.append((step, regrown))
        self._epoch_regrown += regrown
        return regrown

    # -- gradients ----------------------------------------------------------------------
    def _grow_scores(self, weights, step: int):
        if self.grow == "random":
            return [tf.random.stateless_uniform(tf.shape(w), seed=[self.seed, step * 1009 + i])
                    for i, w in enumerate(weights)]
        x, y = self._batch(step // self.frequency - 1)
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=False)
            loss = tf.reduce_mean(self._loss_fn(y, y_pred))
        grads = tape.gradient(loss, weights)
        return [tf.abs(tf.convert_to_tensor(g)) if g is not None else tf.zeros_like(w)
                for g, w in zip(grads, weights, strict=True)]

    def _resolve_loss(self):
        loss = self.loss if self.loss is not None else getattr(self.model, "loss", None)
        if isinstance(loss, str):
            loss = keras.losses.get(loss)
        if not callable(loss):
            raise errors.ConfigError(
                f"{type(self).__name__}: cannot use the model's loss {loss!r} for gradients "
                "(compile with a single loss, or pass loss=fn(y_true, y_pred)).")
        return loss

    def _batch(self, index: int):
        """Gradient batch number ``index`` (cycling through ``data``)."""
        if isinstance(self.data, tf.data.Dataset):
            return next(iter(self.data.repeat().skip(max(index, 0)).take(1)))
        x, y = self.data
        n = len(x)
        idx = (np.arange(self.batch_size) + max(index, 0) * self.batch_size) % n
        return tf.gather(x, idx), tf.gather(y, idx)


class SET(RigL):
    """Sparse Evolutionary Training: RigL's drop step with random regrowth (no data needed).

    Args are those of :class:`RigL` without ``data``, ``loss``, ``batch_size``, ``grow``.

    Example:
        >>> SET(frequency=50).grow
        'random'

    References:
        Mocanu et al., "Scalable training of artificial neural networks with adaptive
        sparse connectivity inspired by network science", Nature Communications 2018.
    """

    def __init__(self, *, frequency: int = 100, drop_fraction: float = 0.3,
                 end_step: int | None = None, seed: int = 0):
        super().__init__(None, frequency=frequency, drop_fraction=drop_fraction,
                         end_step=end_step, grow="random", seed=seed)

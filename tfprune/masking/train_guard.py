"""``fit`` without ``PruningCallback`` raises ``MissingCallbackError`` for every pruned model.

The wrapper's training step asserts ``pruning_step >= 1`` with ``MISSING_CALLBACK_MSG``;
TensorFlow reports a failed graph assertion as ``tf.errors.InvalidArgumentError``. The guard
turns that one error into :class:`tfprune.errors.MissingCallbackError` around the model's
train function. It sits on tf_keras' ``Model.make_train_function`` (the class, installed once
per process when the first ``PruningWrapper`` is made — by ``prune``/``one_shot`` or by loading
a pruned file — never by ``import tfprune`` alone) and wraps only models that hold a pruning
wrapper, so a model
reloaded with ``keras.models.load_model`` or ``tfprune.load_model`` (``.keras``, ``.h5``)
gets it as well: a guard set on one model object is not saved with the model.

Example:
    >>> def train_function(iterator):
    ...     raise tf.errors.InvalidArgumentError(None, None, MISSING_CALLBACK_MSG)
    >>> try:
    ...     guard(train_function)(None)
    ... except errors.MissingCallbackError as e:
    ...     print(type(e).__name__)
    MissingCallbackError
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import errors
from tfprune.compat import keras

__all__ = ["MISSING_CALLBACK_MSG", "guard", "install"]

MISSING_CALLBACK_MSG = (
    "This model was pruned with tfprune but is being trained without its callback: add "
    "callbacks=[tfprune.callbacks.PruningCallback()] to model.fit (in a custom training loop, "
    "call tfprune.before_step(model) before every step)."
)


def guard(fn):
    """``fn`` (a train function) re-raising the wrapper's failed step check as MissingCallbackError.

    Other errors pass through unchanged; guarding twice returns the guarded function.
    """
    if getattr(fn, "_tfprune_guarded", False):
        return fn

    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except tf.errors.InvalidArgumentError as exc:
            if MISSING_CALLBACK_MSG[:40] in str(exc):
                raise errors.MissingCallbackError(MISSING_CALLBACK_MSG) from None
            raise

    guarded._tfprune_guarded = True
    guarded.__wrapped__ = fn
    return guarded


def _holds_wrapper(model) -> bool:
    return any(isinstance(layer, pruning_wrapper.PruneLowMagnitude)
               for layer in model._flatten_layers(include_self=False))


def install() -> None:
    """Guard the train function of every tf_keras model holding a pruning wrapper (idempotent)."""
    original = keras.Model.make_train_function
    if getattr(original, "_tfprune_guard", False):
        return

    def make_train_function(self, force=False):
        fn = original(self, force=force)
        if getattr(fn, "_tfprune_guarded", False) or not _holds_wrapper(self):
            return fn
        self.train_function = guard(fn)
        return self.train_function

    make_train_function._tfprune_guard = True
    make_train_function.__doc__ = original.__doc__
    make_train_function.__wrapped__ = original
    keras.Model.make_train_function = make_train_function

"""``PruningWrapper``: TF-MOT's ``PruneLowMagnitude`` with tfprune's criteria and weight table.

It is a registered subclass of TF-MOT's wrapper, so TF-MOT's ``strip_pruning``,
``UpdatePruningStep`` and ``PruningSummaries`` accept it. It differs in three ways:

* the prunable weights come from :mod:`tfprune.layers` (DepthwiseConv2D and both
  SeparableConv kernels are pruned; subclasses of built-in layers are accepted);
* the mask of each weight is ``masks.topk_mask(criterion.score(w, stats), s)``
  with ``s = schedule(step) * sparsity_scale`` (``sparsity_scale`` realises per-layer
  targets);
* with ``update="external"`` the wrapper never updates its own masks: the model-level
  pruner does (global scope, one-shot, dynamic callbacks).

Users normally do not construct it: :func:`tfprune.prune` does.
"""

from __future__ import annotations

import zlib

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_impl,
    pruning_schedule as tfmot_schedules,
    pruning_wrapper,
)

from tfprune import criteria as criteria_lib
from tfprune import errors, layers, masks
from tfprune.compat import keras

__all__ = ["PruningWrapper", "UPDATE_MODES"]

UPDATE_MODES = ("layer", "external")

MISSING_CALLBACK_MSG = (
    "This model was pruned with tfprune but is being trained without its callback: add "
    "callbacks=[tfprune.callbacks.PruningCallback()] to model.fit (in a custom training loop, "
    "call tfprune.training_begin(model) once before the first step)."
)


def _weight_key(layer_name: str, index: int) -> int:
    return zlib.crc32(f"{layer_name}/{index}".encode()) & 0x7FFFFFFF


class _CriterionPruning(pruning_impl.Pruning):
    """TF-MOT's Pruning with the mask computed by a tfprune Criterion."""

    def __init__(self, *, wrapper, **kwargs):
        super().__init__(**kwargs)
        self._wrapper = wrapper

    def _maybe_update_block_mask(self, weights):
        w = self._wrapper
        idx = next(i for i, (v, _, _) in enumerate(self._pruning_vars) if v is weights)
        _, mask_var, thr_var = self._pruning_vars[idx]
        if w.update == "external":
            return thr_var.read_value(), mask_var.read_value()
        sparsity = self._pruning_schedule(self._step_fn())[1] * w.sparsity_scale
        sparsity = tf.clip_by_value(sparsity, 0.0, 0.9999)
        return w.mask_for(idx, sparsity)


@keras.utils.register_keras_serializable(package="tfprune")
class PruningWrapper(pruning_wrapper.PruneLowMagnitude):
    """Wraps one layer; owns mask/threshold/step variables; applies the mask.

    Args:
        layer: the tf_keras layer to prune.
        pruning_schedule: a TF-MOT ``PruningSchedule`` (any tfprune schedule).
        criterion: a criterion name or :class:`tfprune.criteria.Criterion`.
        weights: attribute names of the weights to prune (default: tfprune's table).
        update: ``"layer"`` (mask recomputed in the training step when the schedule
            says so) or ``"external"`` (masks set by the model-level pruner).
        sparsity_scale: multiplies the schedule's sparsity (per-layer targets).

    Example:
        >>> w = PruningWrapper(keras.layers.Dense(4), criterion="magnitude")
        >>> m = keras.Sequential([keras.Input((3,)), w])
        >>> [v.name.split("/")[-1].split(":")[0] for v in w.non_trainable_weights]
        ['mask', 'threshold', 'pruning_step']
    """

    _PRUNE_CALLBACK_ERROR_MSG = MISSING_CALLBACK_MSG

    def __init__(self, layer, pruning_schedule=None, criterion="magnitude", weights=None,
                 update="layer", sparsity_scale=1.0, block_size=(1, 1),
                 block_pooling_type="AVG", **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise errors.ConfigError(f"PruningWrapper needs a tf_keras layer, got {layer!r}.")
        names = layers.prunable_weight_names(layer) if weights is None else list(weights)
        if names is None:
            raise errors.UnsupportedLayerError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has no prunable weights. "
                "Prunable: Dense, Conv1D/2D/3D(+Transpose), DepthwiseConv2D, SeparableConv1D/2D, "
                "Embedding, layers with get_prunable_weights(), or declare it with "
                "tfprune.register(LayerClass, weights=[...]).")
        if update not in UPDATE_MODES:
            raise errors.unknown_name("update mode", update, UPDATE_MODES)
        if tuple(block_size) != (1, 1):
            raise errors.ConfigError("PruningWrapper: block_size other than (1, 1) is not "
                                     "supported yet; use unstructured pruning.")
        self.pruning_schedule = pruning_schedule or tfmot_schedules.ConstantSparsity(0.5, 0)
        self.criterion = criteria_lib.get(criterion)
        self.prunable_weight_names = names
        self.update = update
        self.sparsity_scale = float(sparsity_scale)
        self.block_size = tuple(block_size)
        self.block_pooling_type = block_pooling_type
        self.sparsity_m_by_n = None
        self.pruning_obj = None
        self.pruning_vars = []
        kwargs.setdefault("name", f"prune_{layer.name}")
        keras.layers.Wrapper.__init__(self, layer, **kwargs)
        self._track_trackable(layer, name="layer")
        if not hasattr(self, "_batch_input_shape") and hasattr(layer, "_batch_input_shape"):
            self._batch_input_shape = layer._batch_input_shape

    def build(self, input_shape):
        keras.layers.Wrapper.build(self, input_shape)
        self.prunable_weights = layers.prunable_weights(self.layer, self.prunable_weight_names)
        triples = []
        for i, weight in enumerate(self.prunable_weights):
            # unique names so .h5 can store layers with several pruned weights
            suffix = "" if i == 0 else f"_{i}"
            dtype = getattr(weight, "true_dtype", weight.dtype)
            mask = self.add_weight("mask" + suffix, shape=weight.shape, initializer="ones", dtype=dtype,
                                   trainable=False, aggregation=tf.VariableAggregation.MEAN)
            threshold = self.add_weight("threshold" + suffix, shape=[], initializer="zeros", dtype=dtype,
                                        trainable=False, aggregation=tf.VariableAggregation.MEAN)
            triples.append((weight, mask, threshold))
        self.pruning_vars = triples
        self.pruning_step = self.add_weight(
            "pruning_step", shape=[], initializer=keras.initializers.Constant(-1),
            dtype=tf.int64, trainable=False)
        self._keys = [_weight_key(self.layer.name, i) for i in range(len(triples))]
        self.pruning_obj = _CriterionPruning(
            wrapper=self, training_step_fn=lambda: self.pruning_step,
            pruning_vars=self.pruning_vars, pruning_schedule=self.pruning_schedule,
            block_size=self.block_size, block_pooling_type=self.block_pooling_type)

    # -- mask math (pure functions from tfprune.masks) ------------------------------
    def scores(self, index: int) -> tf.Tensor:
        """Criterion scores of prunable weight ``index`` (same shape as the weight)."""
        weight = self.pruning_vars[index][0]
        stats = {"key": self._keys[index]}
        return self.criterion.score(tf.convert_to_tensor(weight), stats)

    def mask_for(self, index: int, sparsity):
        """(threshold, mask) for prunable weight ``index`` at ``sparsity``."""
        scores = self.scores(index)
        mask = masks.topk_mask(scores, sparsity)
        kept = tf.boolean_mask(tf.reshape(scores, [-1]), tf.reshape(mask > 0, [-1]))
        weight = self.pruning_vars[index][0]
        threshold = tf.cast(tf.reduce_min(kept), weight.dtype)
        return threshold, tf.cast(mask, weight.dtype)

    def target_sparsity(self, step) -> float:
        """The sparsity this layer aims for at ``step`` (schedule × sparsity_scale)."""
        s = float(self.pruning_schedule(tf.constant(step, tf.int64))[1]) * self.sparsity_scale
        return float(np.clip(s, 0.0, 0.9999))

    def get_config(self):
        config = super().get_config()
        config.update({
            "criterion": criteria_lib.serialize(self.criterion),
            "weights": list(self.prunable_weight_names),
            "update": self.update,
            "sparsity_scale": self.sparsity_scale,
            "block_size": list(self.block_size),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        sched = config.pop("pruning_schedule")
        custom = {"ConstantSparsity": tfmot_schedules.ConstantSparsity,
                  "PolynomialDecay": tfmot_schedules.PolynomialDecay}
        config["pruning_schedule"] = keras.utils.deserialize_keras_object(
            sched, module_objects=vars(tfmot_schedules), custom_objects=custom)
        config["criterion"] = criteria_lib.get(config.pop("criterion", "magnitude"))
        config["layer"] = keras.layers.deserialize(config.pop("layer"))
        return cls(**config)

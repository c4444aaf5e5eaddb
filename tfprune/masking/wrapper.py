"""``PruningWrapper``: TF-MOT's ``PruneLowMagnitude`` with tfprune's criteria and weight table.

It is a registered subclass of TF-MOT's wrapper, so TF-MOT's ``strip_pruning``,
``UpdatePruningStep`` and ``PruningSummaries`` accept it. It differs in three ways:

* the prunable weights come from :mod:`tfprune.layers` (DepthwiseConv2D and both
  SeparableConv kernels are pruned; subclasses of built-in layers are accepted);
* the mask of each weight is ``masks.topk_mask(criterion.score(w, stats), s)``
  with ``s = schedule(step) * sparsity_scale`` (``sparsity_scale`` realises per-layer
  targets);
* with ``update="external"`` the wrapper never updates its own masks: the model-level
  pruner does (global scope, one-shot, dynamic callbacks);
* it gathers the statistics its criterion ``needs`` (gradient tap, activation and
  input statistics, see :mod:`tfprune.masking.stats`) in training calls, and in any call
  while :func:`tfprune.masking.pruner.observing` is active (one-shot calibration);
* ``granularity`` is ``"weight"``, ``"N:M"`` (``"2:4"``, groups along the
  input-channel axis), ``"block:RxC"`` (``"block:4x1"``) or ``"channel"``: then the
  wrapper holds every weight of its layer that carries channels of a dependency group
  (kernel, bias, depthwise kernel, BatchNormalization gamma/beta) with the group map
  ``channel_map``, and the pruner sets one mask per group on all its members.

Here: the Keras layer glue (arguments checked, variables built, the tapped inner call,
config). The step counting and mask updates it mixes in are :mod:`tfprune.masking.updates`;
its statistics :mod:`tfprune.masking.stats`; its scores and masks :mod:`tfprune.masking.scores`.

Users normally do not construct it: :func:`tfprune.prune` does.
"""

from __future__ import annotations

import dataclasses
import zlib

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper
from tf_keras.src.mixed_precision import autocast_variable

from tfprune import errors, layers
from tfprune.compat import keras
from tfprune.core import criteria as criteria_lib
from tfprune.core.criteria import granularity as spec_lib
from tfprune.masking import arguments, gates
from tfprune.masking import granularity as granularity_lib
from tfprune.masking import stats as stats_lib
from tfprune.masking.scores import ScoringMixin
from tfprune.masking.train_guard import install
from tfprune.masking.updates import CriterionPruning, MaskUpdateMixin
from tfprune.masking.validate import (  # noqa: F401  (re-exported names)
    GRANULARITIES,
    UPDATE_MODES,
    channel_axis,
    check_layer,
    check_positive_pair,
)

__all__ = ["PruningWrapper", "WrapperOptions", "UPDATE_MODES", "GRANULARITIES", "check_layer",
           "update_mode"]

#: the keys of a wrapper config saved before 0.3 that :class:`WrapperOptions` now holds
_OPTION_KEYS = ("update", "sparsity_scale", "channel_map", "scope", "scored")


@dataclasses.dataclass(frozen=True)
class WrapperOptions:
    """How the pruner drives one wrapper (set by :func:`tfprune.prune`, not by users).

    Attributes:
        update: ``"layer"`` (mask recomputed in the training step when the schedule
            says so) or ``"external"`` (masks set by the model-level pruner; always so
            for ``"channel"`` and ``"head"``).
        sparsity_scale: multiplies the schedule's sparsity (per-layer targets).
        channel_map: ``"channel"``/``"head"`` only: one dict per (weight, group) pair,
            ``{"weight": attribute, "axis": int, "group": name, "channels": n, "role":
            role, "positions": [group channel per position, -1 elsewhere]}`` (made by
            :func:`tfprune.prune` from :func:`tfprune.graph.build`).
        scope: ``"layer"`` or ``"global"``: how the pruner ranks this wrapper's units.
        scored: gather the criterion's statistics here (``"channel"``: False for
            wrappers that only hold members that are not scored, e.g. consumers).

    Example:
        >>> WrapperOptions(sparsity_scale=2.0).update
        'layer'
    """

    update: str = "layer"
    sparsity_scale: float = 1.0
    channel_map: tuple = ()
    scope: str = "layer"
    scored: bool = True



def update_mode(ranking: str, granularity: str) -> str:
    """The ``update`` of a wrapper: ``"external"`` when the model-level pruner sets its masks
    (a global ranking, or one mask per group: channel, head), else ``"layer"`` (the wrapper
    re-masks itself in the training step). The one place this is decided.

    Example:
        >>> update_mode("global", "weight"), update_mode("layer", "head"), update_mode("layer", "n:m")
        ('external', 'external', 'layer')
    """
    grouped = granularity_lib.get(granularity).grouped
    return "external" if ranking == "global" or grouped else "layer"


def _accepted(layer, kwargs: dict) -> dict:
    """The keyword arguments ``layer.call`` accepts (all of them if it takes ``**kwargs``)."""
    spec = getattr(layer, "_call_spec", None)
    if spec is None or spec.full_argspec.varkw is not None:
        return kwargs
    return {k: v for k, v in kwargs.items() if k in spec.arg_names}


def _weight_key(layer_name: str, index: int) -> int:
    return zlib.crc32(f"{layer_name}/{index}".encode()) & 0x7FFFFFFF


def _materialize(layer) -> None:
    """Create the variables of layers that build their sublayers lazily (MultiHeadAttention)."""
    if not isinstance(layer, keras.layers.MultiHeadAttention):
        return
    dense = getattr(layer, "_query_dense", None)
    if dense is None or dense.built:
        return
    def zeros(shape):
        return tf.zeros([1] + [d or 1 for d in list(shape)[1:]])
    q, v = layer._query_shape, layer._value_shape
    k = layer._key_shape if layer._key_shape is not None else v
    with tf.init_scope():
        layer(zeros(q), zeros(v), key=zeros(k))


def _checked_args(layer, weights, granularity, options, block_size):
    """The wrapper's arguments checked, before any variable: ``(weight names, update,
    granularity spec)`` (a channel or head wrapper's update is always external)."""
    if not isinstance(layer, keras.layers.Layer):
        raise errors.ConfigError(f"PruningWrapper needs a tf_keras layer, got {layer!r}.")
    names = layers.prunable_weight_names(layer) if weights is None else list(weights)
    if names is None:
        raise errors.UnsupportedLayerError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has no prunable weights. "
            "Prunable: Dense, Conv1D/2D/3D(+Transpose), DepthwiseConv2D, SeparableConv1D/2D, "
            "Embedding, LSTM/GRU/SimpleRNN, MultiHeadAttention, layers with "
            "get_prunable_weights(), or declare it with tfprune.register(LayerClass, "
            "weights=[...]).")
    update = options.update
    if update not in UPDATE_MODES:
        raise errors.unknown_name("update mode", update, UPDATE_MODES)
    spec = spec_lib.parse(granularity)
    if options.scope not in ("layer", "global"):
        raise errors.unknown_name("scope", options.scope, ("layer", "global"))
    if granularity_lib.get(spec.name).grouped:
        update = "external"  # one mask per dependency group or head set: the pruner sets it
    if tuple(block_size) != (1, 1):
        raise errors.ConfigError("PruningWrapper: TF-MOT's block_size is not used; pass "
                                 "granularity='block:RxC' (e.g. 'block:4x1') instead.")
    return names, update, spec


def _legacy_config(config: dict) -> dict:
    """A config saved before 0.3 (``n_m``/``block`` beside ``granularity``; ``update``,
    ``sparsity_scale``, ``channel_map``, ``scope``, ``scored`` at the top) in today's
    layout (``granularity`` one spelling; those five in ``options``)."""
    config = dict(config)
    if config.get("granularity") == "unstructured":  # saved before 0.3
        config["granularity"] = "weight"
    n_m, block = config.pop("n_m", None), config.pop("block", None)
    if n_m is not None or block is not None:
        config["granularity"] = str(spec_lib.from_pairs(config.get("granularity", "weight"),
                                                        n_m, block))
    found = {k: config.pop(k) for k in _OPTION_KEYS if k in config}
    options = dict(config.pop("options", None) or {}, **found)
    options["channel_map"] = tuple(options.get("channel_map") or ())
    config["options"] = WrapperOptions(**options)
    return config


@keras.utils.register_keras_serializable(package="tfprune")
class PruningWrapper(ScoringMixin, stats_lib.StatisticsMixin, MaskUpdateMixin,
                     pruning_wrapper.PruneLowMagnitude):
    """Wraps one layer; owns mask/threshold/step/statistic variables; applies the mask.

    Args:
        layer: the tf_keras layer to prune.
        pruning_schedule: a TF-MOT ``PruningSchedule`` (any tfprune schedule).
        criterion: a criterion name or :class:`tfprune.criteria.Criterion`.
        weights: attribute names of the weights to prune (default: tfprune's table).
        granularity: any spelling of :func:`tfprune.core.criteria.granularity.parse`:
            ``"weight"``, ``"n:m"``/``"N:M"`` (keep N of every M along the input-channel
            axis; sparsity is ``1 - N/M`` whatever the schedule says, once it is > 0),
            ``"block"``/``"block:RxC"`` (rows along the input axis, columns along the
            output axis of the kernel viewed as ``[inputs, outputs]``), ``"channel"``
            or ``"head"`` (``"unstructured"``: deprecated alias of ``"weight"``).
        options: :class:`WrapperOptions` (update mode, sparsity scale, channel map,
            scope, scored), set by the pruner.
        block_size, block_pooling_type: TF-MOT's; ``block_size`` must stay ``(1, 1)``.
        **kwargs: Keras layer arguments; ``n_m=``/``block=`` are deprecated (folded into
            ``granularity``, removed in 0.4).

    Example:
        >>> w = PruningWrapper(keras.layers.Dense(4), criterion="magnitude")
        >>> m = keras.Sequential([keras.Input((3,)), w])
        >>> [v.name.split("/")[-1].split(":")[0] for v in w.non_trainable_weights]
        ['mask', 'threshold', 'pruning_step']
    """

    def __init__(self, layer, pruning_schedule=None, criterion="magnitude", weights=None,
                 granularity="weight", options=None, block_size=(1, 1),
                 block_pooling_type="AVG", **kwargs):
        # fit without PruningCallback -> MissingCallbackError, reloaded models too: installed
        # when the first wrapper is made (pruned or loaded), not when tfprune is imported
        install()
        granularity = arguments.fold_granularity(  # n_m=/block= until 0.4
            "weight" if granularity is None else granularity,
            {k: kwargs.pop(k) for k in arguments.GRANULARITY_KEYWORDS if k in kwargs},
            stacklevel=3)  # the warning points at the line building the wrapper
        options = options if options is not None else WrapperOptions()
        names, update, spec = _checked_args(layer, weights, granularity, options, block_size)
        self.granularity, self.n_m, self.block = spec.name, spec.n_m, spec.block
        #: the :class:`tfprune.core.criteria.granularity.Granularity` (name and unit shape)
        self.granularity_spec = spec
        self.pruning_schedule = pruning_schedule or tfmot_schedules.ConstantSparsity(0.5, 0)
        self.criterion = criteria_lib.get(criterion)
        check_layer(layer, self.criterion, spec.name, self.n_m, self.block, names)
        # set past Keras' __setattr__: it flattens every position of every entry looking for
        # variables (NoDependency too), quadratic in the layers of a DenseNet
        object.__setattr__(self, "channel_map", [
            dict(e, positions=[int(p) for p in e["positions"]])
            for e in (options.channel_map or [])])
        self.scope = options.scope
        self.scored = bool(options.scored)
        self.prunable_weight_names = names
        self.update = update
        self.sparsity_scale = float(options.sparsity_scale)
        self.block_size = tuple(block_size)
        self.block_pooling_type = block_pooling_type
        self.sparsity_m_by_n = None
        self.pruning_obj = None
        self.pruning_vars = []
        #: gather statistics in every call, inference included (:func:`pruner.observing`)
        self.observe = False
        self._last_update = None  # the schedule's last mask-update step, once computed
        self._last_update_known = False
        self._eager_step_open = None  # None: every eager training call increments
        kwargs.setdefault("name", f"prune_{layer.name}")
        keras.layers.Wrapper.__init__(self, layer, **kwargs)
        # a Keras mask passes through as it does through the inner layer alone
        self._supports_masking = bool(getattr(layer, "supports_masking", False))
        self._track_trackable(layer, name="layer")
        if not hasattr(self, "_batch_input_shape") and hasattr(layer, "_batch_input_shape"):
            self._batch_input_shape = layer._batch_input_shape

    def build(self, input_shape):
        keras.layers.Wrapper.build(self, input_shape)
        _materialize(self.layer)
        check_layer(self.layer, self.criterion, self.granularity, self.n_m, self.block,
                    self.prunable_weight_names)
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
        self.build_stats(input_shape)
        self.weight_keys = [_weight_key(self.layer.name, i) for i in range(len(triples))]
        self.pruning_obj = CriterionPruning(
            wrapper=self, training_step_fn=lambda: self.pruning_step,
            pruning_vars=self.pruning_vars, pruning_schedule=self.pruning_schedule,
            block_size=self.block_size, block_pooling_type=self.block_pooling_type)

    # -- call: TF-MOT's step/mask/weight updates, then the tapped inner call -----------
    def call(self, inputs, *args, training=None, **kwargs):
        if training is None:
            training = keras.backend.learning_phase()
        # masks and thresholds live in the variables' dtype (float32 under a mixed policy):
        # the updates read the float32 variables, not the compute-dtype copies
        with autocast_variable.enable_auto_cast_variables(None):
            self._tfmot_updates(training)
        static = tf.get_static_value(training) if tf.is_tensor(training) else training
        gather = self.observe or bool(static)
        # every argument the inner layer takes is passed through (a Keras mask, attention
        # masks, initial states, ``training``); one it does not take (an implicit ``mask``
        # Keras hands every wrapper) is dropped, as the inner layer's own __call__ would
        inner_kwargs = _accepted(self.layer, dict(kwargs, training=training))

        def inner(packed):
            x, more, kw = packed
            return self.layer.call(x, *more, **kw, **inner_kwargs)

        packed = (inputs, list(args),
                  {k: v for k, v in inner_kwargs.items() if tf.is_tensor(v) and k != "training"})
        for k in packed[2]:
            inner_kwargs.pop(k)
        gate = gates.until_last_update(self)
        if self.gathers_gradients and (gather or static is None):
            out = stats_lib.gradient_tap(
                inner, packed, self.prunable_weights,
                lambda grads: gates.gated(gate, self.on_gradients, grads))
        else:
            out = inner(packed)
        if gather:
            gates.gated(gates.every_nth_step(self, gate), self.record_forward, inputs, out,
                        packed[1], dict(packed[2], **inner_kwargs))
        return out

    def compute_mask(self, inputs, mask=None):
        """The inner layer's output mask (``Embedding(mask_zero=True)``, RNNs, ...)."""
        return self.layer.compute_mask(inputs, mask)

    def get_config(self):
        config = super().get_config()
        config.update({
            "criterion": criteria_lib.serialize(self.criterion),
            "weights": list(self.prunable_weight_names),
            "update": self.update,
            "sparsity_scale": self.sparsity_scale,
            "block_size": list(self.block_size),
            "granularity": str(self.granularity_spec),
            "channel_map": [dict(e) for e in self.channel_map],
            "scope": self.scope,
            "scored": self.scored,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = _legacy_config(config)
        sched = config.pop("pruning_schedule")
        custom = {"ConstantSparsity": tfmot_schedules.ConstantSparsity,
                  "PolynomialDecay": tfmot_schedules.PolynomialDecay}
        config["pruning_schedule"] = keras.utils.deserialize_keras_object(
            sched, module_objects=vars(tfmot_schedules), custom_objects=custom)
        config["criterion"] = criteria_lib.get(config.pop("criterion", "magnitude"))
        layer = config.pop("layer")
        # .h5 files deserialise by class_name only: resolve a registered custom layer
        # ("package>Name") so pruned models of registered custom layers reload.
        found = keras.utils.get_registered_object(layer.get("registered_name") or "")
        custom = {layer["class_name"]: found} if found is not None else None
        config["layer"] = keras.layers.deserialize(layer, custom_objects=custom)
        return cls(**config)

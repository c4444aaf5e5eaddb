"""Pruning subclassed Keras 3 models: ``prune``, ``one_shot``, ``strip`` and training in
Keras 3's own ``fit``, without a graph and without tf_keras.

tfprune's ``PruningWrapper`` is a tf_keras layer and cannot sit inside a Keras 3 model, and
a subclassed model has no graph to translate. So the model keeps its own Keras 3 layers: a
copy (``type(model).from_config(model.get_config())``, built and given the weights; or the
model itself with ``inplace=True``) carries masks beside its prunable layers
(:mod:`tfprune.masking.keras3_slots`), chosen by tfprune's criteria and mask math and applied
as ``weight.assign(weight * mask)``. ``tfprune.PruningCallback`` in Keras 3's ``fit`` drives
them (:class:`Training`): masks updated at the schedule's steps, pruned weights zeroed again
after every training batch (so the optimizer cannot regrow them). :func:`strip` gives the
user's class with the masked weights and no tfprune state; it saves to ``.keras`` and
reloads with plain ``keras.models.load_model``.

Weight-only criteria (``magnitude``, ``l1``, ``l2``, ``random``) at ``"weight"``, ``"n:m"`` and
``"block"`` granularity. Channels and heads (no graph to follow them through) and criteria
that record gradients or activations (they record inside the tf_keras wrapper) are refused
with the reason.

Example:
    >>> import numpy as np, keras, tfprune
    >>> class MLP(keras.Model):
    ...     def __init__(self, **kw):
    ...         super().__init__(**kw)
    ...         self.fc = keras.layers.Dense(8, name="fc")
    ...     def call(self, x):
    ...         return self.fc(x)
    >>> m = MLP(); _ = m(np.zeros((1, 4), "float32"))
    >>> plain = tfprune.strip(tfprune.one_shot(m, 0.5))
    >>> type(plain).__name__, float((plain.fc.kernel.numpy() == 0).mean())
    ('MLP', 0.5)
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)

from tfprune import errors
from tfprune.core import criteria as criteria_lib
from tfprune.core import masks as masks_lib
from tfprune.core import schedules as schedules_lib
from tfprune.masking import granularity as granularity_lib
from tfprune.masking import keras3_slots as slots3
from tfprune.masking import scope as scope_lib
from tfprune.masking.subclassed import check_graph_free
from tfprune.masking.validate import (
    DEFAULT_FREQUENCY,
    check_positive_pair,
    check_schedule_args,
    final_sparsity,
)

__all__ = ["serves", "update_masks", "prune", "one_shot", "strip", "Training"]

_WEIGHT_ONLY = "'magnitude', 'l1', 'l2' or 'random'"


def serves(keras3_fn=None):
    """Decorate a public entry point so that a subclassed Keras 3 model (its first argument)
    goes to ``keras3_fn`` with the same arguments; anything else to the function itself.
    ``keras3_fn=None``: to the function under the next decorator (``keras3_io``, which would
    translate the model: the function handles such models itself).

    Example:
        >>> @serves(lambda model: "keras 3 subclassed")
        ... def f(model):
        ...     return "other"
        >>> f(object())
        'other'
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            model = args[0] if args else kwargs.get("model")
            if slots3.is_keras3_subclassed(model):
                return (keras3_fn or fn.__wrapped__)(*args, **kwargs)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


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


def _check_criterion(model, crit, unit):
    check_graph_free(model, unit, crit)
    if crit.needs_data:
        raise errors.ConfigError(
            f"criterion {crit.name!r} scores weights from recorded "
            f"{', '.join(sorted(crit.needs))}: tfprune records them inside its tf_keras "
            f"PruningWrapper, which a subclassed Keras 3 model ({type(model).__name__}) does "
            f"not hold (it keeps its own layers). Use a weight-only criterion: {_WEIGHT_ONLY}; "
            "or define the class on tf_keras (import tf_keras as keras) for data criteria.")


def _targets(model, exclude, scope):
    """``{name: (layer, weight names)}`` of the prunable layers, names checked."""
    found = {}
    for layer, names in slots3.prunable(model):
        if layer.name in found:
            raise errors.ConfigError(
                f"two layers of {type(model).__name__} are named {layer.name!r}: give them "
                "unique names (name=...) so exclude/scope and reports can tell them apart.")
        found[layer.name] = (layer, names)
    for arg, names in (("exclude", exclude), ("scope", list(scope.targets or {}))):
        for name in names:
            if name not in found:
                raise errors.ConfigError(
                    f"`{arg}` names layer {name!r}, which {type(model).__name__} does not "
                    f"hold as a prunable layer. Its prunable layers: {sorted(found)}.")
    return found


def _check_fits(layers, strategy, n_m, block):
    for layer, names in layers:
        who, fix = f"Layer {layer.name!r} ({type(layer).__name__}): ", \
            f"; exclude it with exclude=[{layer.name!r}]."
        for name in names:
            var = slots3._variable(layer, name)  # noqa: SLF001 - same module family
            strategy.fits(var.path, list(var.shape), tuple(n_m), tuple(block), who, fix)


def _schedule(sparsity, schedule, fixed):
    if schedule is not None:
        return schedule
    if fixed:
        return schedules_lib.OneShot(float(sparsity), step=0)
    return tfmot_schedules.ConstantSparsity(float(sparsity), 0, frequency=DEFAULT_FREQUENCY)


def prune(model, *, sparsity=None, schedule=None, criterion="magnitude", scope="layer",
          exclude=None, granularity=None, n_m=(2, 4), block=(4, 1), inplace=False,
          fixed=False):
    """:func:`tfprune.prune` for a subclassed Keras 3 model (it dispatches here).

    Returns a copy of ``model`` (its class, layer names, weights, compile state) carrying
    masks, or ``model`` itself with ``inplace=True``. Train it with
    ``tfprune.PruningCallback()`` in its own ``fit``.

    Raises:
        ConfigError: channel/head granularity, a criterion that needs data, or the checks
            of :func:`tfprune.prune`. ModelTypeError: unbuilt, or cannot be copied.

    Example:
        >>> import numpy as np, keras
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(np.zeros((1, 3), "float32"))
        >>> p = prune(m, sparsity=0.5)
        >>> type(p).__name__, p is m, [lm.layer.name for lm in slots3.state_of(p).layers]
        ('M', False, ['dense'])
    """
    if inplace not in (True, False):
        raise errors.ConfigError(f"inplace must be True or False, got {inplace!r}.")
    if not model.built:
        raise errors.ModelTypeError(
            f"`model` ({type(model).__name__}) is not built yet: call it on a batch "
            "(model(x)) before pruning.")
    if slots3.state_of(model) is not None:
        raise errors.AlreadyPrunedError(
            f"`model` {model.name!r} is already pruned. Strip it first with "
            "tfprune.strip(model), or keep training the pruned one.")
    crit = criteria_lib.get(criterion)
    resolved = scope_lib.resolve(scope)
    strategy = granularity_lib.get(granularity if granularity is not None
                                   else resolved.granularity, crit)
    _check_criterion(model, crit, strategy.name)
    criteria_lib.check_granularity(crit, strategy.name)
    scope = scope_lib.resolve(scope, strategy.name)
    if scope.ranking == "global" and not strategy.global_ranking:
        raise errors.ConfigError(f"granularity={strategy.name!r} has no global ranking: use "
                                 "scope='layer'.")
    n_m = errors.check_pair(n_m, "n_m")
    block = check_positive_pair(block, "block")
    if strategy.name == "n:m" and sparsity is None and schedule is None and not scope.is_mapping:
        sparsity = 1.0 - n_m[0] / n_m[1]
    check_schedule_args(sparsity, schedule, scope)
    exclude = [exclude] if isinstance(exclude, str) else list(exclude or [])
    found = _targets(model, exclude, scope)
    names = [n for n in found if n not in exclude
             and (not scope.is_mapping or n in scope.targets)]
    if not names:
        raise errors.NothingToPruneError(
            f"{type(model).__name__} {model.name!r} holds no prunable layer (Dense, Conv*, "
            "DepthwiseConv2D, SeparableConv*, Embedding, ...) that is not excluded.")
    schedule = _schedule(sparsity if sparsity is not None else scope.final, schedule, fixed)
    scales = {n: 1.0 for n in names}
    if scope.is_mapping:
        final = final_sparsity(schedule)
        if final <= 0:
            raise errors.ConfigError("scope={...} needs a schedule whose final sparsity is > 0.")
        scales = {n: scope.targets[n] / final for n in names}
    _check_fits([found[n] for n in names], strategy, n_m, block)
    target = model if inplace else slots3.copy_model(model)
    held = {layer.name: (layer, ws) for layer, ws in slots3.prunable(target)}
    layers = [slots3.LayerMasks(*held[n], crit, strategy.name, n_m, block, scales[n])
              for n in names]
    slots3.set_state(target, slots3.MaskState(layers, schedule, scope.ranking))
    return target


def one_shot(model, sparsity=None, *, criterion="magnitude", scope="layer", exclude=None,
             data=None, loss=None, granularity=None, n_m=(2, 4), block=(4, 1),
             max_batches=None, compensate=False, inplace=False):
    """:func:`tfprune.one_shot` for a subclassed Keras 3 model: masks chosen once, pruned
    weights zeroed; fine-tuning with ``PruningCallback`` keeps them.

    Example:
        >>> import numpy as np, keras
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(np.zeros((1, 4), "float32"))
        >>> float((one_shot(m, 0.75).fc.kernel.numpy() == 0).mean())
        0.75
    """
    del data, loss, max_batches  # weight-only criteria: refused below otherwise
    if compensate is not False:
        raise errors.ConfigError(
            f"compensate={compensate!r} re-fits layers through tfprune's tf_keras wrappers; it "
            f"is not available for subclassed Keras 3 model {type(model).__name__}. Leave it "
            "out and fine-tune the pruned model with PruningCallback instead.")
    pruned = prune(model, sparsity=sparsity, criterion=criterion, scope=scope, exclude=exclude,
                   granularity=granularity, n_m=n_m, block=block, inplace=inplace, fixed=True)
    update_masks(pruned, 0)
    slots3.state_of(pruned).step = 0
    return pruned


def strip(model, *, inplace=False):
    """:func:`tfprune.strip` for a subclassed Keras 3 model: the user's class with the
    masked weights and no tfprune state (a copy unless ``inplace=True``).

    Example:
        >>> import numpy as np, keras
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(np.zeros((1, 3), "float32"))
        >>> s = strip(one_shot(m, 0.5))
        >>> type(s).__name__, slots3.state_of(s), int((s.fc.kernel.numpy() == 0).sum())
        ('M', None, 6)
    """
    if inplace not in (True, False):
        raise errors.ConfigError(f"inplace must be True or False, got {inplace!r}.")
    state = slots3.state_of(model)
    values = [v.numpy() for v in model.weights]
    if state is not None:
        index = {id(v.value): i for i, v in enumerate(model.weights)}
        for lm in state.layers:
            for weight, mask, _ in lm.pruning_vars:
                values[index[id(weight)]] = values[index[id(weight)]] * mask.numpy()
    if not inplace:
        return slots3.copy_model(model, values)
    for var, value in zip(model.weights, values, strict=True):
        var.assign(value)
    slots3.set_state(model, None)
    return model


class Training:
    """What ``PruningCallback`` does for a subclassed Keras 3 model in Keras 3's ``fit``:
    masks at the schedule's steps (before the step they are due at), pruned weights zeroed
    after every training batch, the pruning step kept on the model (later ``fit`` calls go
    on from it). With ``steps_per_execution=k`` it acts once per k steps.

    Example:
        >>> import numpy as np, keras
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(np.zeros((1, 4), "float32"))
        >>> t = Training(prune(m, sparsity=0.5)); t.begin()
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

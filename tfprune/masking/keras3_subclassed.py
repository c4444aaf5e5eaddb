"""Pruning subclassed Keras 3 models: ``prune``, ``one_shot``, ``strip`` and training in
Keras 3's own ``fit``, without a graph and without tf_keras.

tfprune's ``PruningWrapper`` is a tf_keras layer and cannot sit inside a Keras 3 model, and
a subclassed model has no graph to translate. So the model keeps its own Keras 3 layers: a
copy (``type(model).from_config(model.get_config())``, built and given the weights; or the
model itself with ``inplace=True``) carries masks beside its prunable layers
(:mod:`tfprune.masking.keras3_slots`), chosen by tfprune's criteria and mask math and applied
as ``weight.assign(weight * mask)``. ``tfprune.PruningCallback`` in Keras 3's ``fit`` drives
them (:class:`~tfprune.masking.keras3_training.Training`): masks updated at the schedule's steps, pruned weights zeroed again
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

import dataclasses
import functools
import inspect

from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)

from tfprune import errors
from tfprune.core import criteria as criteria_lib
from tfprune.core import schedules as schedules_lib
from tfprune.masking import arguments
from tfprune.masking import granularity as granularity_lib
from tfprune.masking import keras3_slots as slots3
from tfprune.masking import scope as scope_lib
from tfprune.masking.arguments import Request  # noqa: F401  (public here too)
from tfprune.masking.keras3_training import update_masks
from tfprune.masking.subclassed import check_graph_free
from tfprune.masking.validate import (
    DEFAULT_FREQUENCY,
    check_schedule_args,
    final_sparsity,
)

__all__ = ["Request", "serves", "prune", "one_shot", "strip"]

_WEIGHT_ONLY = "'magnitude', 'l1', 'l2' or 'random'"


def serves(keras3_fn=None):
    """Decorate a public entry point so that a subclassed Keras 3 model (its first argument)
    goes to ``keras3_fn(model, Request(...))`` (the call's other arguments); anything else to
    the function itself. ``keras3_fn=None``: to the function under the next decorator
    (``keras3_io``, which would translate the model) with the same arguments: the function
    handles such models itself.

    Example:
        >>> @serves(lambda model, request: "keras 3 subclassed")
        ... def f(model, sparsity=None):
        ...     return "other"
        >>> f(object(), 0.5)
        'other'
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            model = args[0] if args else kwargs.get("model")
            if not slots3.is_keras3_subclassed(model):
                return fn(*args, **kwargs)
            if keras3_fn is None:
                return fn.__wrapped__(*args, **kwargs)
            bound = inspect.signature(fn).bind(*args, **kwargs)
            bound.arguments.pop("model")
            return keras3_fn(model, Request(**bound.arguments))

        return wrapper

    return decorate


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
            var = slots3.variable(layer, name)
            strategy.fits(var.path, list(var.shape), tuple(n_m), tuple(block), who, fix)


def _schedule(sparsity, schedule, fixed):
    if schedule is not None:
        return schedule
    if fixed:
        return schedules_lib.OneShot(float(sparsity), step=0)
    return tfmot_schedules.ConstantSparsity(float(sparsity), 0, frequency=DEFAULT_FREQUENCY)


def prune(model, request: Request, fixed: bool = False):
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
        >>> p = prune(m, Request(sparsity=0.5))
        >>> type(p).__name__, p is m, [lm.layer.name == m.fc.name for lm in
        ...                            slots3.state_of(p).layers]
        ('M', False, [True])
    """
    if request.inplace not in (True, False):
        raise errors.ConfigError(f"inplace must be True or False, got {request.inplace!r}.")
    if not model.built:
        raise errors.ModelTypeError(
            f"subclassed Keras 3 model ({type(model).__name__}) {model.name!r} is not built "
            "yet: call it on a batch (model(x)) before pruning.")
    if slots3.state_of(model) is not None:
        raise errors.AlreadyPrunedError(
            f"`model` {model.name!r} is already pruned. Strip it first with "
            "tfprune.strip(model), or keep training the pruned one.")
    plan = _plan(model, request, fixed)
    target = model if request.inplace else slots3.copy_model(model)
    held = {layer.name: (layer, ws) for layer, ws in slots3.prunable(target)}
    layers = [slots3.LayerMasks(*held[n], plan.criterion, plan.unit, plan.n_m, plan.block,
                                scale) for n, scale in plan.scales.items()]
    slots3.set_state(target, slots3.MaskState(layers, plan.schedule, plan.ranking))
    return target


@dataclasses.dataclass(frozen=True)
class _Plan:
    criterion: object
    unit: str
    ranking: str
    n_m: tuple
    block: tuple
    schedule: object
    scales: dict  # {layer name: sparsity scale} of the layers pruned


def _plan(model, r: Request, fixed: bool) -> _Plan:
    """Every argument checked and resolved as :func:`tfprune.prune` does, before any work."""
    crit = criteria_lib.get(r.criterion)
    unit = granularity_lib.spec(r.granularity, crit, scope=r.scope)
    strategy = granularity_lib.get(unit.name)
    _check_criterion(model, crit, strategy.name)
    criteria_lib.check_granularity(crit, strategy.name)
    scope = scope_lib.resolve(r.scope, strategy.name)
    if scope.ranking == "global" and not strategy.global_ranking:
        raise errors.ConfigError(f"granularity={strategy.name!r} has no global ranking: use "
                                 "scope='layer'.")
    n_m, block = unit.n_m, unit.block
    sparsity = r.sparsity
    if strategy.name == "n:m" and sparsity is None and r.schedule is None and not scope.is_mapping:
        sparsity = unit.sparsity
    check_schedule_args(sparsity, r.schedule, scope)
    exclude = [r.exclude] if isinstance(r.exclude, str) else list(r.exclude or [])
    found = _targets(model, exclude, scope)
    names = [n for n in found if n not in exclude
             and (not scope.is_mapping or n in scope.targets)]
    if not names:
        raise errors.NothingToPruneError(
            f"{type(model).__name__} {model.name!r} holds no prunable layer (Dense, Conv*, "
            "DepthwiseConv2D, SeparableConv*, Embedding, ...) that is not excluded.")
    schedule = _schedule(sparsity if sparsity is not None else scope.final, r.schedule, fixed)
    scales = {n: 1.0 for n in names}
    if scope.is_mapping:
        final = final_sparsity(schedule)
        if final <= 0:
            raise errors.ConfigError("scope={...} needs a schedule whose final sparsity is > 0.")
        scales = {n: scope.targets[n] / final for n in names}
    _check_fits([found[n] for n in names], strategy, n_m, block)
    return _Plan(crit, strategy.name, scope.ranking, tuple(n_m), tuple(block), schedule, scales)


def one_shot(model, request: Request):
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
        >>> float((one_shot(m, Request(sparsity=0.75)).fc.kernel.numpy() == 0).mean())
        0.75
    """
    compensate = arguments.of(request.data).compensate
    if compensate is not False:
        raise errors.ConfigError(
            f"compensate={compensate!r} re-fits layers through tfprune's tf_keras "
            f"wrappers; it is not available for subclassed Keras 3 model "
            f"{type(model).__name__}. Leave it out and fine-tune the pruned model with "
            "PruningCallback instead.")
    pruned = prune(model, request, fixed=True)  # a criterion that needs data is refused there
    update_masks(pruned, 0)
    slots3.state_of(pruned).step = 0
    return pruned


def strip(model, request: Request | None = None):
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
        >>> s = strip(one_shot(m, Request(sparsity=0.5)))
        >>> type(s).__name__, slots3.state_of(s), int((s.fc.kernel.numpy() == 0).sum())
        ('M', None, 6)
    """
    inplace = (request or Request()).inplace
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

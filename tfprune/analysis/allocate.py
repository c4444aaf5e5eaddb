"""Allocate per-layer (weight), per-group (channel) or per-attention-layer (head) sparsities
that meet one target.

``allocate(result_or_model, sparsity=... or target=(name, value), method=...)`` returns an
:class:`Allocation`: a mapping ``{layer_or_group: sparsity}`` usable as
``prune(scope=...)``/``one_shot(scope=...)``
(weight granularity; head granularity with ``granularity="head"``: the keys are
MultiHeadAttention layer names, the values the fraction of their heads removed) or turned
into a ``structured.Plan`` with :meth:`Allocation.plan` (channel and head granularity),
plus the predicted totals. Costs come from
:class:`tfprune.analysis.costs.Costs` (exact parameters and MACs as functions of the kept
fraction of every unit); the methods live in :mod:`tfprune.analysis.methods`.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
    ...                       keras.layers.Dense(4, name="out")])
    >>> a = allocate(m, sparsity=0.5, method="uniform")
    >>> dict(a), round(a.predicted["sparsity"], 2)
    ({'h': 0.5, 'out': 0.5}, 0.5)
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from tfprune import deprecations, errors
from tfprune.analysis import methods, owl
from tfprune.analysis.allocation import Allocation
from tfprune.analysis.costs import Costs
from tfprune.analysis.heads import check_heads
from tfprune.analysis.owl import OWL
from tfprune.analysis.profiles import arena_profile, latency_profile
from tfprune.analysis.profiles import model_cache as profiles_cache
from tfprune.analysis.sensitivity import GRANULARITIES, SensitivityResult
from tfprune.compat import keras, keras3_io

__all__ = ["allocate", "given_targets", "Allocation", "Costs", "OWL", "TARGETS", "METHODS"]

TARGETS = ("sparsity", "params", "macs", "bytes", "latency_ms", "flash", "arena")
METHODS = ("sensitivity", "erk", "lamp", "uniform", "owl")
#: the targets a head allocation supports (the others are refused with this list)
HEAD_TARGETS = ("sparsity", "params", "macs")
_KEYWORDS = ("sparsity", "target", "method", "granularity", "data")


# -- the public function -----------------------------------------------------------------
def given_targets(target, names, given: dict) -> dict:
    """``given`` (``{name: value}`` from other arguments) with ``target=(name, value)`` added.

    Example:
        >>> given_targets(("macs", 0.5), TARGETS, {})
        {'macs': 0.5}
    """
    given = {k: v for k, v in given.items() if v is not None}
    if target is None:
        return given
    if not (isinstance(target, (tuple, list)) and len(target) == 2
            and isinstance(target[0], str)):
        raise errors.ConfigError(
            f"target must be a pair (name, value), e.g. target=('macs', 0.5), got "
            f"target={target!r}.")
    if target[0] not in names:
        raise errors.unknown_name("target", target[0], names)
    if target[0] in given:
        raise errors.ConfigError(f"{target[0]} is given twice: give target=(name, value) only.")
    return {**given, target[0]: target[1]}


def _target(given, granularity):
    if len(given) != 1:
        raise errors.ConfigError(
            f"allocate() needs exactly one target: sparsity=... or target=(name, value) with "
            f"name one of {', '.join(TARGETS)}; got {sorted(given) or 'none'}.")
    (name, value), = given.items()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not math.isfinite(value):
        raise errors.ConfigError(f"{name} must be a positive number, got {name}={value!r}.")
    if name == "sparsity":
        errors.check_sparsity(value)
    if granularity == "head" and name not in HEAD_TARGETS:
        raise errors.ConfigError(
            f"{name}= is not modelled for granularity='head' (heads of MultiHeadAttention): "
            "a head allocation takes sparsity= or target=('params' or 'macs', value) (params and "
            "MACs count every query/key/value/output slice of a head). For "
            f"{name}= allocate channels (sensitivity(..., granularity='channel')).")
    if name in ("flash", "arena") and granularity == "weight":
        raise errors.ConfigError(
            f"{name}= is a microcontroller target: TFLM runs dense int8 weights only (it "
            "cannot use sparse weights), so weight sparsity does not change it. Use "
            "granularity='channel' (sensitivity(..., granularity='channel')).")
    if name == "latency_ms" and granularity == "weight":
        raise errors.ConfigError(
            "latency_ms= is modelled for channel granularity only: LiteRT runs weight-sparse "
            "layers with dense kernels, so weight sparsity does not change latency. Use "
            "granularity='channel' (sensitivity(..., granularity='channel')).")
    if name == "bytes" and granularity == "weight":
        raise errors.ConfigError(
            "bytes= is modelled for channel granularity only (dense int8 .tflite); the size "
            "of a sparse-encoded file is not predicted yet. Use target=('params', ...) or "
            "sparsity= for weight granularity.")
    return name, float(value)


def _method(method, deprecated):
    """``(method name, OWL options or None)`` of ``method=`` and the old ``owl_*`` keywords."""
    if isinstance(method, owl.OWL):
        name, options = "owl", method
    elif method in METHODS:
        name, options = method, (owl.OWL() if method == "owl" else None)
    else:
        raise errors.unknown_name("method", method, METHODS)
    old = {k: deprecated[k] for k in ("owl_m", "owl_lambda") if k in deprecated}
    if old and name == "owl":
        options = owl.OWL(m=old.get("owl_m", options.m), lam=old.get("owl_lambda", options.lam))
    return name, options


def _check_owl(granularity, data) -> None:
    if granularity != "weight":
        raise errors.ConfigError(
            f"method='owl' allocates weight sparsity per layer; granularity={granularity!r} "
            "is not supported: use granularity='weight' or another method.")
    if data is None:
        raise errors.ConfigError(
            "method='owl' measures activation outliers: pass data=x_calibration (e.g. 128 "
            "samples), or choose method='erk', 'lamp' or 'uniform'.")


@keras3_io()
def allocate(result_or_model, *, sparsity=None, target: tuple | None = None,
             method="sensitivity", granularity: str | None = None, data=None,
             **deprecated) -> Allocation:
    """Per-unit sparsities that meet exactly one target with the least predicted damage.

    ``method="sensitivity"`` (needs a :class:`SensitivityResult`) takes greedy steps
    (knapsack by ratio): each step raises one unit's sparsity to the next grid point
    with the smallest measured degradation per unit of resource saved (curves are
    interpolated linearly between the measured levels and made monotone; no unit goes
    beyond the highest measured level). ``"uniform"`` uses one sparsity everywhere,
    ``"erk"`` densities proportional to ``sum(shape) / prod(shape)`` (RigL), ``"lamp"``
    one global threshold on ``w_i^2 / sum_{j>=i} w_j^2`` (Lee et al. 2021; channel: on
    squared group L2 scores); these three find their one parameter by bisection, with no
    weight tensor past 99.9 % sparsity (no channel group or attention layer past 99 %).

    Args:
        result_or_model: a :class:`~tfprune.analysis.sensitivity.SensitivityResult`
            (granularity from it) or a model (``granularity`` then defaults to weight).
        sparsity: fraction of units removed (weights, channels of prunable groups, or
            heads of the MultiHeadAttention layers); the same as
            ``target=("sparsity", value)``.
        target: any other target as a pair ``(name, value)``, e.g. ``("macs", 0.5)``;
            give ``sparsity=`` or ``target=``, not both. The names:

            ``"params"``, ``"macs"``, ``"bytes"``, ``"flash"``: upper bounds, absolute, or
            a fraction of the dense figure when in (0, 1). ``bytes``/``flash`` (channel
            only): dense full-int8 .tflite size estimate (TFLM flash of the model data).

            ``"latency_ms"``: (channel only) LiteRT 1-thread latency in ms (always absolute),
            predicted from a LiteRT profile measured once per model: ``a + b * MACs`` from the
            dense model and two uniform shrinks, or, once ``profiles.latency_profile(model,
            per_group=True)`` has run, ``a`` plus ms per MAC of the group owning the MACs
            (:mod:`tfprune.analysis.profiles`).

            ``"arena"``: (channel only) TFLM int8 tensor arena bytes (absolute, or a fraction of
            the dense arena when in (0, 1)): the peak of live int8 activations plus
            per-channel data, calibrated with one real ``export.micro`` of the dense model.
        method: ``"sensitivity"``, ``"erk"``, ``"lamp"``, ``"uniform"`` or ``"owl"``
            (weight granularity, needs ``data``; :mod:`tfprune.analysis.owl`: layers
            with more activation outliers ``|w| * ||x||`` keep more weights), or
            :class:`~tfprune.analysis.owl.OWL` ``(m=..., lam=...)``: OWL with its options
            (a weight is an outlier when its Wanda score exceeds ``m`` times its layer's
            mean; sparsities spread over ``+- lam`` around a common level; Yin et al.: 5
            and 0.08, the defaults of ``"owl"``).
        data: OWL only: calibration inputs (``x``, ``(x, y)``, batches).
        granularity: only with a model: ``"weight"``, ``"channel"`` or ``"head"``.
            ``"head"`` (from a model or a ``sensitivity(..., granularity="head")``
            result): the units are MultiHeadAttention layers, the sparsity the fraction
            of their heads removed; the targets are ``sparsity``, ``params`` and ``macs``
            (a head's parameters and MACs: its query/key/value/output slices and its
            attention matmuls); pass the result as ``one_shot(model, scope=allocation,
            granularity="head")`` or ``structured.apply_masks(model,
            allocation.plan(model))``.
        **deprecated: the keywords of tfprune 0.2, until 0.4 (a DeprecationWarning each):
            ``params=``, ``macs=``, ``bytes=``, ``latency_ms=``, ``flash=``, ``arena=``
            (use ``target=(name, value)``), ``owl_m=``, ``owl_lambda=`` (use
            ``method=OWL(m=..., lam=...)``). Any other keyword is refused.

    Returns:
        An :class:`Allocation` (a mapping unit -> sparsity with ``.predicted``).

    Raises:
        ConfigError: no or several targets, a unit that makes no sense for the
            granularity, an unknown method or keyword, or an unreachable target (the closest
            reachable value is named) — all before the search.

    References:
        Evci et al., Rigging the Lottery, ICML 2020 (ERK). Lee et al., Layer-adaptive
        Sparsity for the Magnitude-based Pruning, ICLR 2021 (LAMP).

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
        ...                       keras.layers.Dense(4, name="out")])
        >>> a = allocate(m, target=("params", 0.5), method="erk")
        >>> a.predicted["params"] <= 0.5 * m.count_params()
        True

        Heads of a MultiHeadAttention (a dict for ``one_shot(..., granularity="head")``):

        >>> i = keras.Input((6, 8))
        >>> att = keras.layers.MultiHeadAttention(4, 4, name="att")(i, i)
        >>> t = keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(att)))
        >>> dict(allocate(t, target=("macs", 0.6), method="uniform", granularity="head"))
        {'att': 0.5}
    """
    deprecated = deprecations.keywords("analysis.allocate", deprecated, valid=_KEYWORDS,
                                       stacklevel=5)  # past keras3_io's two frames
    result, model, gran = _subject(result_or_model, granularity)
    method, owl_options = _method(method, deprecated)
    old = {k: v for k, v in deprecated.items() if k in TARGETS}
    name, value = _target(given_targets(target, TARGETS, {"sparsity": sparsity, **old}), gran)
    _check_method(method, result, model, gran)
    if method == "owl":
        _check_owl(gran, data)
    search = _Search(model, result, gran, method, name, value, _costs(model, gran))
    _set_goal(search)
    _set_family(search, data, owl_options)
    _refuse_unreachable(search)
    return _solve(search)


# -- the steps of allocate() -------------------------------------------------------------
#: column of each target in Costs.totals (bytes and flash share the int8 size estimate;
#: arena is appended as column 5 by the arena profile)
_COLUMNS = {"params": 0, "macs": 1, "bytes": 2, "flash": 2, "sparsity": 3, "latency_ms": 4,
            "arena": 5}


@dataclasses.dataclass
class _Search:
    """One allocation problem, filled in step by step by :func:`allocate`."""

    model: object
    result: object  # SensitivityResult or None
    gran: str
    method: str
    name: str  # the target
    value: float
    costs: Costs
    lat: object = None  # latency profile (latency_ms target)
    fn: tuple | None = None  # (predict, surrogate) of the arena profile (arena target)
    dense: np.ndarray | None = None  # Costs.totals of the dense model (+ arena)
    goal: float = 0.0  # the target in Costs.totals units
    cap: float = 0.0  # highest sparsity of any unit
    curves: list | None = None
    family: object = None  # sparsities from one parameter (rule-based methods, owl)

    @property
    def col(self) -> int:
        return _COLUMNS[self.name]


def _subject(result_or_model, granularity):
    """``(result or None, model, granularity)`` of allocate()'s first argument."""
    result = result_or_model if isinstance(result_or_model, SensitivityResult) else None
    model = result.model if result is not None else result_or_model
    if result is not None and granularity not in (None, result.granularity):
        raise errors.ConfigError(
            f"granularity={granularity!r} differs from the sensitivity result's "
            f"{result.granularity!r}; omit granularity.")
    gran = result.granularity if result is not None else (granularity or "weight")
    if gran not in GRANULARITIES:
        raise errors.unknown_name("granularity", gran, GRANULARITIES)
    return result, model, gran


def _check_method(method, result, model, gran) -> None:
    if method == "sensitivity" and result is None:
        raise errors.ConfigError(
            "method='sensitivity' needs a sensitivity result: allocate(sensitivity(model, "
            "data), ...), or choose method='erk', 'lamp' or 'uniform'.")
    if not isinstance(model, keras.Model):
        raise errors.ConfigError(
            "allocate() needs a tf_keras model or a SensitivityResult that carries its model "
            "(SensitivityResult.from_dict(d, model=...)).")
    if gran == "head":
        check_heads(model)  # no MultiHeadAttention: say which granularity to use


def _costs(model, gran) -> Costs:
    costs = Costs(model, gran)
    if not costs.units:
        raise errors.NothingToPruneError(f"Model {model.name!r} has nothing prunable at "
                                         f"granularity={gran!r}.")
    return costs


def _set_goal(s: _Search) -> None:
    """The dense totals and the goal in their units (profiles measured for latency/arena)."""
    costs, ones = s.costs, np.ones(len(s.costs.units))
    if s.name == "latency_ms":
        cached = profiles_cache(s.model)
        s.lat = cached.get("latency_groups") or latency_profile(s.model)  # per-group if measured
        s.lat.apply(costs)
    s.dense = costs.totals(ones)
    if s.name == "latency_ms":
        s.goal = s.value
    elif s.name == "arena":
        arena = arena_profile(s.model, costs.index)
        s.fn = (arena.predict, arena.surrogate)
        s.dense = np.append(s.dense, arena.predict(ones))
        s.goal = s.value * s.dense[s.col] if s.value < 1 else s.value
    elif s.name == "sparsity":
        s.goal = (1.0 - s.value) * s.dense[3]
    else:
        s.goal = s.value * s.dense[s.col] if s.value < 1 else s.value


def _set_family(s: _Search, data, owl_options) -> None:
    """The sparsity cap, the measured curves and the one-parameter family of the method."""
    # the rule-based methods may take a weight tensor to 99.9 % (a 99 % target must leave
    # room above it: LAMP/ERK put the large layers past 99 %); channels and heads stop at
    # 99 % (kept_count keeps at least one anyway)
    s.cap = (max(s.result.levels) if s.method == "sensitivity"
             else (0.999 if s.gran == "weight" else 0.99))
    s.curves = methods.curves(s.result, s.costs) if s.result is not None else None
    if s.method == "owl":
        ratios = owl.outlier_ratios(s.model, data, s.costs.units, m=owl_options.m)
        s.family = owl.owl_family([ratios[u] for u in s.costs.units], owl_options.lam, s.cap)
    elif s.method != "sensitivity":
        s.family = methods.family(s.method, s.model, s.costs, s.cap)


def _refuse_unreachable(s: _Search) -> None:
    """Refuse a goal below what the most pruned allocation reaches, naming the closest."""
    costs, dense, name, col = s.costs, s.dense, s.name, s.col
    k_least = costs.kept(np.full(len(costs.units), s.cap) if s.family is None
                         else s.family(1.0))
    least = s.fn[0](k_least) if s.fn else costs.totals(k_least)[col]
    if s.goal >= least - 1e-9:
        return
    closest_txt = (f"{1.0 - least / dense[3]:.4f}" if name == "sparsity"
                   else f"{least:.4g}" if s.lat is not None
                   else str(int(math.ceil(least))))
    dense_txt = ("" if name == "sparsity" else
                 f" (dense: {dense[4]:.4g})" if s.lat is not None
                 else f" (dense: {int(round(dense[col])):,})")
    why = (f"beyond the highest measured level ({s.cap}) of every unit"
           if s.method == "sensitivity" else f"with {s.method} up to sparsity {s.cap}")
    raise errors.ConfigError(
        f"{name}={s.value} is unreachable {why}: the closest reachable value is "
        f"{name}={closest_txt}{dense_txt}. "
        "Relax the target" + (" or measure higher levels." if s.family is None else "."))


def _solve(s: _Search) -> Allocation:
    """Search the sparsities, round them to whole units and predict what they cost."""
    costs, fn = s.costs, s.fn
    if s.family is None:
        sp = methods.greedy(costs, s.curves, s.goal, s.col, s.cap, np.array(s.result.levels),
                            fn)
    else:
        sp = methods.bisect(s.family, costs, s.goal, s.col, fn[0] if fn else None)
    k = costs.kept(sp)
    sp = 1.0 - k  # the sparsity actually applied (whole units)
    predicted, dense_rep = costs.report(k), costs.report(np.ones(len(costs.units)))
    if s.lat is not None:
        predicted["latency_ms"] = float(costs.totals(k)[4])
        dense_rep["latency_ms"] = float(s.dense[4])
    if fn is not None:
        predicted["arena"] = int(round(fn[0](k)))
        dense_rep["arena"] = int(round(s.dense[5]))
    if s.curves is not None:
        predicted["metric_delta"] = float(sum(np.interp(si, *c) for si, c in
                                              zip(sp, s.curves, strict=True)))
    scope = {u: float(round(si, 6)) for u, si in zip(costs.units, sp, strict=True)}
    return Allocation(scope, s.gran, s.method, (s.name, s.value), predicted, dense_rep)

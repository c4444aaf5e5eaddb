"""Fuzzing the Python doors (issue 24 item 9): ``tfprune.prune``, ``tfprune.one_shot`` and
``tfprune.structured.plan`` with hostile arguments (sparsities, criteria, granularities,
scopes, exclude lists, n:m and block pairs, schedules, calibration data, max_batches).

The property: each call raises a ``tfprune.errors`` class (a ValueError/TypeError
subclass defined in tfprune/errors.py) or returns a result whose weights are all finite
and whose reached sparsity matches the request; never another exception or a non-finite
model. The models are tiny and built once per module.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)

import tfprune
from tfprune import errors, structured
from tfprune.analysis.allocate import Allocation
from tfprune.compat import keras
from tfprune.masking import pruner

L = keras.layers
NAN, INF = float("nan"), float("inf")
# TFPRUNE_FUZZ_EXAMPLES=2000 explores further, with a fresh random seed per run
_EXPLORE = int(os.environ.get("TFPRUNE_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(max_examples=_EXPLORE or 60, deadline=None, derandomize=not _EXPLORE,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])


def _mlp():
    m = keras.Sequential([keras.Input((6,)), L.Dense(16, activation="relu", name="d1"),
                          L.Dense(16, activation="relu", name="d2"), L.Dense(3, name="d3")],
                         name="mlp")
    m.compile(loss="sparse_categorical_crossentropy")
    return m


def _cnn():
    """Conv2D+BN CNN; its prunable layers share the MLP's names (a scope or exclude list
    valid for one model is valid for both)."""
    inp = keras.Input((6, 6, 2))
    x = L.Conv2D(8, 3, name="d1")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="relu")(x)
    x = L.Conv2D(8, 3, name="d2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    m = keras.Model(inp, L.Dense(3, name="d3")(x), name="cnn")
    m.compile(loss="sparse_categorical_crossentropy")
    return m


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(7)
    return {"mlp": _mlp(), "cnn": _cnn()}


# ----------------------------------------------------------------------------- strategies
def _mostly(valid, hostile):
    """``valid`` seven times in eight, ``hostile`` otherwise: most examples get far enough
    for one hostile argument to meet the code that resolves it."""
    return st.integers(0, 7).flatmap(lambda i: hostile if i == 0 else valid)


_SPARSITY = (st.sampled_from([None, 0, 0.0, 0.5, 0.5, 0.75, 0.9, 0.999, 1.0, 1, 2, -0.1, NAN,
                              INF, -INF, "0.5", True, False, [0.5], np.float32(0.5),
                              np.float64(NAN), np.int64(0), 1e-300])
             | st.floats(allow_nan=True, allow_infinity=True))
_SPARSITY = _mostly(st.sampled_from([0.0, 0.3, 0.5, 0.75, 0.9]) | st.floats(0.0, 0.99),
                    _SPARSITY)
_CRITERIA = tfprune.criteria.available()
_CRITERION = st.sampled_from(
    _CRITERIA + ["magnitude", "magnitude", "l2", "magnitud", "", None, 3, "MAGNITUDE"]
) | st.sampled_from(["Magnitude", "L1", "L2", "Random", "Wanda", "BNScale"]).map(
    lambda n: getattr(tfprune.criteria, n)())
_CRITERION = _mostly(st.sampled_from(["magnitude", "l1", "l2", "random", "wanda", "taylor",
                                      "snip", "obs", "sparsegpt", "fpgm", "bn_scale"]),
                     _CRITERION)
_GRANULARITY = _mostly(st.sampled_from([None, "weight", "n:m", "block", "channel"]),
                       st.sampled_from([None, "weight", "n:m", "block", "channel", "head",
                                        "filter", "", 3, "N:M", ["weight"]]))


def _allocation(scope, granularity):
    return Allocation(scope=scope, granularity=granularity, method="uniform",
                      target=("sparsity", 0.5), predicted={}, dense={})


_SCOPE_ANY = st.one_of(
    st.sampled_from(["layer", "layer", "global", "globl", "", None, 3, ["layer"], {},
                     {"nope": 0.5}, {3: 0.5}, {"d1": NAN}, {"d1": 1.5}, {"d1": -0.5},
                     {"d1": "0.5"}, {"d1": True}, {"bn": 0.5}, {"d2": 0.25, "relu": 0.5},
                     {"d1": 0.5, "d2": 0.0}, {"d1": 0.5, "nope": 0.5}]),
    st.dictionaries(st.sampled_from(["d1", "d2", "d3", "bn", "gap", "x"]),
                    _SPARSITY, max_size=3),
    st.builds(_allocation,
              st.dictionaries(st.sampled_from(["d1", "d2", "d3", "bn"]),
                              st.sampled_from([0.0, 0.5, 0.75, NAN, 1.0]), max_size=2),
              st.sampled_from(["weight", "channel", "head", "bogus", None, 3])),
)
_SCOPE = _mostly(st.sampled_from(["layer", "global", "layer", {"d1": 0.5, "d2": 0.25},
                                  {"d1": 0.5}, {"d2": 0.5, "d3": 0.75}, {"d2": 0.9}]),
                 _SCOPE_ANY)
_EXCLUDE = _mostly(st.sampled_from([None, [], ["d2"], ["d3"]]), st.sampled_from(
    [["d1"], ["bn"], ["nope"], "d1", "d2", [3], ("d2",), [""], ["d1", "d2", "d3"],
     ["d1", "d1"], {"d1": 1}, 3, b"d1"]))
_PAIR_ANY = st.one_of(
    st.sampled_from([(2, 4), (1, 4), (0, 4), (4, 4), (5, 4), (-1, 4), (2, 0), (2, -4), (2.0, 4),
                     (2.5, 4), (2,), (1, 2, 3), "2:4", None, (True, 4), (NAN, 4), [1, 2],
                     (4, 1), (1, 1), (16, 16), (2, 1000)]),
    st.tuples(st.integers(-3, 20), st.integers(-3, 20)))
_N_M = _mostly(st.sampled_from([(2, 4), (1, 4), (1, 2)]), _PAIR_ANY)
_BLOCK = _mostly(st.sampled_from([(4, 1), (2, 2), (1, 1), (2, 1)]), _PAIR_ANY)
_MAX_BATCHES = _mostly(st.sampled_from([None, 1, 2]),
                       st.sampled_from([0, -1, 1.5, True, NAN, "2", 10**12]))
_DATA = _mostly(st.sampled_from(["xy", "x", "dataset", "list_xy"]), st.sampled_from([None, "x", "xy", "xy", "wrong_shape", "nan", "inf", "empty",
                         "empty_xy", "list", "list_xy", "generator", "string", "nested",
                         "dataset", "uint8", "y_out_of_range", "y_float_nan", "xy_mismatch",
                         "dict", "scalar", "x_1d", "ragged_list", "y_only_tuple3"]))


def _data(kind, model):
    rng = np.random.default_rng(0)
    shape = tuple(model.input_shape[1:])
    x = rng.normal(size=(16,) + shape).astype("float32")
    y = rng.integers(0, 3, size=16)
    if kind is None:
        return None
    return {
        "x": lambda: x,
        "xy": lambda: (x, y),
        "wrong_shape": lambda: (rng.normal(size=(16, 5)).astype("float32"), y),
        "nan": lambda: (np.where(x > 1, np.nan, x).astype("float32"), y),
        "inf": lambda: (np.where(x > 1, np.inf, x).astype("float32"), y),
        "empty": lambda: x[:0],
        "empty_xy": lambda: (x[:0], y[:0]),
        "list": lambda: [x[:8], x[8:]],
        "list_xy": lambda: [(x[:8], y[:8]), (x[8:], y[8:])],
        "generator": lambda: ((x[i:i + 8], y[i:i + 8]) for i in (0, 8)),
        "string": lambda: "data.npy",
        "nested": lambda: x.tolist(),
        "dataset": lambda: tf.data.Dataset.from_tensor_slices((x, y)).batch(8),
        "uint8": lambda: (rng.integers(0, 255, size=x.shape).astype("uint8"), y),
        "y_out_of_range": lambda: (x, y + 7),
        "y_float_nan": lambda: (x, np.full(16, np.nan)),
        "xy_mismatch": lambda: (x, y[:5]),
        "dict": lambda: {"x": x, "y": y},
        "scalar": lambda: 3.0,
        "x_1d": lambda: x.reshape(-1),
        "ragged_list": lambda: [x[:8], x[8:, ..., :1]],
        "y_only_tuple3": lambda: (x, y, y),
    }[kind]()


def _schedule(kind, s, power, end, begin, freq):
    """Build a schedule from fuzzed arguments (construction may refuse: that counts)."""
    S = tfprune.schedules
    return {
        "constant": lambda: S.Constant(s),
        "agp": lambda: S.AGP(s, end_step=end, begin_step=begin, power=power, frequency=freq),
        "linear": lambda: S.Linear(s, end_step=end, begin_step=begin, frequency=freq),
        "oneshot": lambda: S.OneShot(s, step=begin),
        "tfmot_poly": lambda: tfmot_schedules.PolynomialDecay(0.0, s, begin, end, power=power,
                                                              frequency=freq),
        "iterative": lambda: S.Iterative([(begin, s), (end, power)]),
        "manual": lambda: S.Manual(),
        "string": lambda: "agp",
        "number": lambda: s,
        "none": lambda: None,
    }[kind]()


_SCHEDULE = st.tuples(
    st.sampled_from(["constant", "agp", "agp", "tfmot_poly", "linear", "oneshot", "iterative",
                     "manual",
                     "string", "number", "none", "none"]),
    _SPARSITY,
    _mostly(st.sampled_from([3, 1, 0.95]),
            st.sampled_from([0.5, 0, -1, NAN, INF, -INF, "3", True])),
    _mostly(st.sampled_from([8, 4]), st.sampled_from([0, -4, 2.5, NAN, 10**9])),
    _mostly(st.sampled_from([0, 1]), st.sampled_from([-2, 3.0, NAN, 20])),
    _mostly(st.sampled_from([1, 2]), st.sampled_from([100, 0, -1, 1.5, NAN])))


# ----------------------------------------------------------------------------- the property
def _call(fn):
    """``fn()``; None when it raised a tfprune error (what the doors may do)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the property is about the class
        if (isinstance(e, errors.TfpruneError) and isinstance(e, (ValueError, TypeError))
                and type(e).__module__ == "tfprune.errors"):
            event(f"refused: {type(e).__name__}" + (f" {str(e)[:70]}" if _EXPLORE else ""))
            return None
        raise


def _finite(model, x):
    for w in model.weights:
        assert np.isfinite(np.asarray(w.numpy(), dtype="float64")).all(), w.name
    out = model(x[:4], training=False)
    assert np.isfinite(np.asarray(out)).all()


def _mask_sparsities(model):
    """layer name -> fraction of zero mask entries of its first pruned weight."""
    out = {}
    for w in pruner.wrapped_layers(model):
        _, mask, _ = w.pruning_vars[0]
        out[w.layer.name] = 1.0 - float(np.mean(mask.numpy()))
    return out


def _sizes(model):
    """layer name -> size of its first pruned weight."""
    return {w.layer.name: w.pruning_vars[0][0].shape.num_elements()
            for w in pruner.wrapped_layers(model)}


def _request(sparsity, scope, granularity_name, n_m):
    """The target sparsity the call asked for (None: no single number)."""
    if isinstance(scope, dict) or isinstance(scope, Allocation):
        return None
    if granularity_name == "n:m":
        return 1.0 - n_m[0] / n_m[1]
    return float(sparsity)


def _spelling(granularity, n_m, block):
    """The one value of ``granularity`` for a fuzzed (name, N:M pair, block pair):
    ``"N:M"``/``"block:RxC"`` (a bad pair gives a bad spelling, to be refused)."""
    def pair(p, sep):
        try:
            a, b = p
        except (TypeError, ValueError):
            return repr(p)
        return f"{a}{sep}{b}"

    if granularity == "n:m":
        return pair(n_m, ":")
    if granularity == "block":
        return "block:" + pair(block, "x")
    return granularity


def _granularity_of(model):
    ws = pruner.wrapped_layers(model)
    return ws[0].granularity if ws and hasattr(ws[0], "granularity") else None


def _check_one_shot(pruned, model, sparsity, scope, exclude, n_m, x):
    _finite(pruned, x)
    masks = _mask_sparsities(pruned)
    assert masks, "one_shot returned a model with no pruned layer"
    assert all(0.0 <= v < 1.0 for v in masks.values()), masks  # no layer wiped out
    gran = _granularity_of(pruned)
    event(f"granularity {gran}")
    if gran not in ("weight", "n:m"):
        return
    target = _request(sparsity, scope, gran, n_m)
    sizes = _sizes(pruned)
    if isinstance(scope, (dict, Allocation)):
        for name, value in dict(scope).items():  # each named layer at its own sparsity
            if name in masks and gran == "weight":
                assert abs(masks[name] - value) <= 1.0 / sizes[name] + 1e-6, (name, masks, scope)
        return
    if scope == "global" and gran == "weight":
        total = sum(sizes.values())
        reached = sum(masks[n] * sizes[n] for n in masks) / total
        assert abs(reached - target) <= 2.0 / total + 1e-6, (reached, target)
        return
    for name, value in masks.items():
        assert abs(value - target) <= 1.0 / sizes[name] + 1e-6, (name, value, target)


# ----------------------------------------------------------------------------- the doors
@pytest.mark.slow
@SETTINGS
@given(which=st.sampled_from(["mlp", "cnn"]), sparsity=_SPARSITY, criterion=_CRITERION,
       scope=_SCOPE, exclude=_EXCLUDE, granularity=_GRANULARITY, n_m=_N_M, block=_BLOCK,
       data=_DATA, max_batches=_MAX_BATCHES, compensate=_mostly(st.just(False), st.sampled_from([True, 1, None, "yes"])))
def test_one_shot_is_refused_or_correct(models, which, sparsity, criterion, scope, exclude,
                                        granularity, n_m, block, data, max_batches,
                                        compensate):
    model = models[which]
    before = [w.copy() for w in model.get_weights()]
    x = _data("x", model)
    pruned = _call(lambda: tfprune.one_shot(
        model, sparsity, criterion=criterion, scope=scope, exclude=exclude,
        data=tfprune.Calibration(_data(data, model), max_batches=max_batches,
                                 compensate=compensate),
        granularity=_spelling(granularity, n_m, block)))
    for a, b in zip(before, model.get_weights(), strict=True):  # never the user's model
        np.testing.assert_array_equal(a, b)
    if pruned is None:
        return
    event("accepted")
    _check_one_shot(pruned, model, sparsity, scope, exclude, n_m, x)


@pytest.mark.slow
@SETTINGS
@given(which=st.sampled_from(["mlp", "cnn"]), sparsity=_SPARSITY, schedule=_SCHEDULE,
       criterion=_CRITERION, scope=_SCOPE, exclude=_EXCLUDE, granularity=_GRANULARITY,
       n_m=_N_M, block=_BLOCK, give=st.sampled_from(["sparsity", "schedule", "schedule",
                                                     "both", "neither"]))
def test_prune_is_refused_or_correct(models, which, sparsity, schedule, criterion, scope,
                                     exclude, granularity, n_m, block, give):
    model = models[which]
    sparsity = None if give in ("schedule", "neither") else sparsity
    schedule = ("none",) + schedule[1:] if give in ("sparsity", "neither") else schedule
    pruned = _call(lambda: tfprune.prune(
        model, sparsity=sparsity, schedule=_schedule(*schedule), criterion=criterion,
        scope=scope, exclude=exclude, granularity=_spelling(granularity, n_m, block)))
    if pruned is None:
        return
    event("accepted")
    _finite(pruned, _data("x", model))
    wrapped = pruner.wrapped_layers(pruned)
    assert wrapped
    for w in wrapped:  # the schedule the wrappers follow asks for a sparsity in [0, 1)
        for step in (0, 1, 4, 8, 20):
            _, s = w.pruning_schedule(tf.constant(step, tf.int64))
            assert 0.0 <= float(s) < 1.0 and math.isfinite(float(s)), (w.pruning_schedule, step)


_PLAN_OPTIONS = st.dictionaries(
    st.sampled_from(["granularity", "round_to", "min_channels", "reduction", "score_from",
                     "max_batches", "typo"]),
    st.sampled_from([None, 1, 2, 8, 0, -1, 1.5, NAN, "sum", "mean", "max", "bogus",
                     "producers", "consumers", "channel", "head", "weight", True, 100]),
    max_size=2)


@pytest.mark.slow
@SETTINGS
@given(which=st.sampled_from(["mlp", "cnn"]), sparsity=_SPARSITY,
       criterion=_CRITERION, scope=_SCOPE, exclude=_EXCLUDE, data=_DATA,
       options=_PLAN_OPTIONS)
def test_plan_is_refused_or_correct(models, which, sparsity, criterion, scope, exclude, data,
                                    options):
    model = models[which]
    plan = _call(lambda: structured.plan(model, sparsity=sparsity, criterion=criterion,
                                         scope=scope, exclude=exclude,
                                         data=_data(data, model), **options))
    if plan is None:
        return
    event("accepted")
    assert isinstance(plan, structured.Plan)
    for group, kept in plan.keep.items():
        n = plan.channels[group]
        assert 1 <= len(kept) <= n and len(set(kept)) == len(kept), (group, kept, n)
        assert all(0 <= int(c) < n for c in kept)
        if scope == "layer" and options.get("round_to", 1) == 1 and not options.get(
                "min_channels"):
            removed = (n - len(kept)) / n  # kept_count rounds n * (1 - s) to an integer
            assert removed <= float(sparsity) + 0.5 / n + 1e-9, (group, removed, sparsity)
    masked = _call(lambda: structured.apply_masks(model, plan))
    if masked is not None:
        _finite(masked, _data("x", model))


@pytest.mark.slow
@settings(SETTINGS, max_examples=_EXPLORE or 12)
@given(schedule=_SCHEDULE, granularity=st.sampled_from([None, "n:m", "channel"]))
def test_pruned_models_train_to_finite_weights(models, schedule, granularity):
    """What ``prune`` accepts also trains: two steps of ``fit`` with PruningCallback end
    with finite weights and masks at the schedule's sparsity (or a tfprune error)."""
    model = models["mlp"]
    pruned = _call(lambda: tfprune.prune(model, schedule=_schedule(*schedule),
                                         granularity=granularity))
    if pruned is None:
        return
    event("accepted")
    pruned.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    x, y = _data("xy", model)
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0,
               callbacks=[tfprune.callbacks.PruningCallback()])
    _finite(pruned, x)
    for name, value in _mask_sparsities(pruned).items():
        assert 0.0 <= value < 1.0, (name, value)

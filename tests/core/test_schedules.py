"""Tests of tfprune.schedules: formulas, end points, validation, TF-MOT integration, saving."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (
    prune,
    pruning_callbacks,
)
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)

from tfprune import errors
from tfprune.compat import keras
from tfprune.core import schedules

ALL = [
    schedules.Constant(0.4, begin_step=2, frequency=5),
    schedules.Constant(0.4, begin_step=2, end_step=12, frequency=5),
    schedules.AGP(0.6, end_step=15, frequency=4),
    schedules.AGP(0.6, end_step=15, begin_step=1, initial_sparsity=0.1, power=2, frequency=3),
    schedules.Linear(0.7, end_step=14, begin_step=2, frequency=5),
    schedules.Exponential(0.75, end_step=13, frequency=5),
    schedules.Cosine(0.8, end_step=16, begin_step=3, frequency=4),
    schedules.Iterative([(5, 0.3), (12, 0.7)]),
    schedules.OneShot(0.5, step=3),
    schedules.Manual(),
]
RAMPS = [s for s in ALL if isinstance(s, (schedules.AGP, schedules.Linear, schedules.Exponential,
                                          schedules.Cosine, schedules.Iterative))]


def _ids(s):
    return repr(s)[:60]


def _curve(schedule, steps):
    should, sparsity = schedule(tf.constant(steps, tf.int64))
    return should.numpy(), sparsity.numpy()


@pytest.mark.parametrize("schedule", RAMPS, ids=_ids)
def test_ramp_reaches_final_sparsity_at_end_step_and_not_before(schedule):
    steps = np.arange(0, schedule.end_step + 25)
    should, sparsity = _curve(schedule, steps)
    fired = steps[should]
    final = np.float32(schedule.final_sparsity)
    assert fired[-1] == schedule.end_step
    assert sparsity[schedule.end_step] == final
    assert np.all(sparsity[fired[:-1]] < final)
    assert np.all(np.diff(sparsity) >= -1e-7)
    assert np.all(sparsity[steps >= schedule.end_step] == final)


def test_constant_and_one_shot_hold_their_sparsity_from_the_first_update():
    should, sparsity = _curve(schedules.Constant(0.4, begin_step=2, end_step=12, frequency=5),
                              np.arange(20))
    assert list(np.flatnonzero(should)) == [2, 7, 12]
    assert np.all(sparsity == np.float32(0.4))
    should, sparsity = _curve(schedules.OneShot(0.5, step=3), np.arange(10))
    assert list(np.flatnonzero(should)) == [3]
    assert np.all(sparsity[:3] == 0) and np.all(sparsity[3:] == 0.5)


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ALL, ids=_ids)
def test_schedule_is_graph_safe_with_an_int64_step_variable(schedule):
    step = tf.Variable(0, dtype=tf.int64)

    dtypes = []

    @tf.function
    def run():  # 20 steps in a graph loop: its body (one schedule call) is traced once
        should = tf.TensorArray(tf.bool, size=20)
        values = tf.TensorArray(tf.float32, size=20)
        for i in tf.range(20):
            step.assign_add(1)
            s, v = schedule(step)
            dtypes.append((s.dtype, v.dtype))
            should, values = should.write(i, s), values.write(i, v)
        return should.stack(), values.stack()

    should, values = run()
    assert dtypes and all(d == (tf.bool, tf.float32) for d in dtypes)
    assert int(step.numpy()) == 20
    eager = [schedule(t) for t in range(1, 21)]
    assert [bool(s) for s in should.numpy()] == [bool(s) for s, _ in eager]
    np.testing.assert_allclose(values.numpy(), [float(v) for _, v in eager], atol=1e-6)


@pytest.mark.parametrize("schedule", ALL, ids=_ids)
def test_get_config_round_trips_and_uses_the_tfmot_envelope(schedule):
    config = schedule.get_config()
    assert config["class_name"] == "tfprune>" + type(schedule).__name__
    again = type(schedule).from_config(json.loads(json.dumps(config))["config"])
    assert again.get_config() == config
    assert type(schedule).from_config(config) == schedule
    restored = keras.utils.deserialize_keras_object(
        json.loads(json.dumps(config)), module_objects=vars(tfmot_schedules))
    assert restored == schedule


@pytest.mark.parametrize("build,match", [
    (lambda: schedules.AGP(0.8, end_step=10, begin_step=10), "end_step.*greater than.*begin_step"),
    (lambda: schedules.Linear(0.8, end_step=5, begin_step=9), "end_step"),
    (lambda: schedules.AGP(1.0, end_step=10), r"final_sparsity.*\[0, 1\)"),
    (lambda: schedules.Cosine(-0.1, end_step=10), "final_sparsity"),
    (lambda: schedules.Exponential(0.5, end_step=10, initial_sparsity=0.6), "initial_sparsity"),
    (lambda: schedules.Constant(1.5), r"sparsity.*\[0, 1\)"),
    (lambda: schedules.Constant(0.5, frequency=0), "frequency.*positive"),
    (lambda: schedules.AGP(0.5, end_step=10, frequency=-3), "frequency"),
    (lambda: schedules.AGP(0.5, end_step=10, power=0), "power"),
    (lambda: schedules.Constant(0.5, begin_step=-1), "begin_step"),
    (lambda: schedules.Iterative([(10, 0.5), (5, 0.7)]), r"plateaus\[1\]"),
    (lambda: schedules.Iterative([(10, 0.5), (20, 0.5)]), "increase in both step and sparsity"),
    (lambda: schedules.Iterative([]), "empty"),
    (lambda: schedules.Iterative([(10, 1.0)]), "sparsity"),
    (lambda: schedules.OneShot(0.5, step=-2), "step"),
])
def test_bad_arguments_raise_config_error_naming_the_argument(build, match):
    with pytest.raises(errors.ConfigError, match=match):
        build()


def test_get_builds_by_name_and_rejects_unknown_names():
    assert schedules.get("Polynomial", final_sparsity=0.5, end_step=9) == schedules.AGP(
        0.5, end_step=9)
    inst = schedules.OneShot(0.3)
    assert schedules.get(inst) is inst
    assert schedules.get(inst.get_config()) == inst
    tfmot = tfmot_schedules.PolynomialDecay(0, 0.5, 0, 10)
    assert isinstance(schedules.get(tfmot.get_config()), tfmot_schedules.PolynomialDecay)
    with pytest.raises(errors.ConfigError, match="Did you mean 'cosine'"):
        schedules.get("cosin")
    with pytest.raises(errors.ConfigError, match="cannot build AGP"):
        schedules.get("agp", final_sparsity=0.5)
    with pytest.raises(errors.ConfigError, match="instance"):
        schedules.get(inst, step=3)


# --------------------------------------------------------------------------- inside TF-MOT
def _expected_sparsity(schedule, step, n):
    should, sparsity = _curve(schedule, np.arange(1, step + 1))
    if not should.any():
        return 0.0
    s = float(sparsity[np.flatnonzero(should)[-1]])
    return 1 - max(1, round(n * (1 - s))) / n


class _MaskLog(keras.callbacks.Callback):
    """Records (step, mask sparsity of every wrapper) after each training batch."""

    def on_train_begin(self, logs=None):
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        ws = [w for w in self.model.layers if hasattr(w, "pruning_vars")]
        self.rows.append((int(ws[0].pruning_step.numpy()),
                          [1 - float(np.mean(w.pruning_vars[0][1].numpy())) for w in ws]))


def _pruned(schedule_list):
    """One model, one Dense(10) branch per schedule, each wrapped by TF-MOT."""
    inputs = keras.Input((20,))
    outs = [prune.prune_low_magnitude(keras.layers.Dense(10, name=f"d{i}"),
                                      pruning_schedule=s)(inputs)
            for i, s in enumerate(schedule_list)]
    model = keras.Model(inputs, keras.layers.Concatenate()(outs))
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.optimizer.build(model.trainable_variables)  # fit traces its step once, not twice
    return model


def _wrappers(model):
    return [w for w in model.layers if hasattr(w, "pruning_vars")]


X = np.random.RandomState(0).rand(80, 20).astype("float32")
Y = np.random.RandomState(1).rand(80, 10 * len(ALL)).astype("float32")


@pytest.fixture(scope="module")
def first_epoch(tmp_path_factory):
    """One _pruned(ALL) model after one epoch (step 10), saved as .keras, .h5 and SavedModel.

    Everything the reload tests compare with (masks, predictions, files) is taken here, at
    step 10, so the masks test may train the same model on (one trace of its train function
    serves all tests of this file).
    """
    keras.utils.set_random_seed(1234)  # module fixtures run before the per-test seed
    model, log = _pruned(ALL), _MaskLog()
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0,
              callbacks=[pruning_callbacks.UpdatePruningStep(), log])
    folder = tmp_path_factory.mktemp("schedules")
    paths = {ext: str(folder / f"m{ext}") for ext in (".keras", ".h5", "")}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You are saving your model as an HDF5")
        for path in paths.values():
            model.save(path)
    return {"model": model, "rows": log.rows, "paths": paths,
            "masks": [w.pruning_vars[0][1].numpy() for w in _wrappers(model)],
            "predictions": model(X, training=False).numpy()}  # eager: no predict trace


@pytest.mark.slow
def test_masks_follow_every_schedule_inside_tfmot_prune_low_magnitude(first_epoch):
    # steps 1-10 were logged by the fixture's fit; the same model trains on to step 20
    model, log = first_epoch["model"], _MaskLog()
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0,
              callbacks=[pruning_callbacks.UpdatePruningStep(), log])
    rows = first_epoch["rows"] + log.rows
    assert [r[0] for r in rows] == list(range(1, 21))
    for step, sparsities in rows:
        for schedule, got in zip(ALL, sparsities, strict=True):
            want = _expected_sparsity(schedule, step, 200)
            assert got == pytest.approx(want, abs=1e-6), (schedule, step)
    assert [round(s, 6) for s in rows[-1][1]] == [0.4, 0.4, 0.6, 0.6, 0.7, 0.75, 0.8, 0.7,
                                                  0.5, 0.0]


@pytest.mark.slow
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_tfmot_wrapped_model_round_trips_with_every_schedule_in_keras_and_h5(first_epoch, ext):
    with prune.prune_scope():
        loaded = keras.models.load_model(first_epoch["paths"][ext])
    for schedule, old_mask, new in zip(ALL, first_epoch["masks"], _wrappers(loaded),
                                       strict=True):
        assert type(new.pruning_schedule) is type(schedule)
        assert new.pruning_schedule == schedule
        assert int(new.pruning_step.numpy()) == 10
        np.testing.assert_array_equal(new.pruning_vars[0][1].numpy(), old_mask)
    np.testing.assert_allclose(loaded(X, training=False).numpy(), first_epoch["predictions"],
                               atol=1e-6)


@pytest.mark.slow
def test_tfmot_wrapped_model_resumes_training_after_savedmodel_round_trip(first_epoch):
    with prune.prune_scope():
        loaded = keras.models.load_model(first_epoch["paths"][""])
    loaded.optimizer.build(loaded.trainable_variables)
    loaded.fit(X, Y, batch_size=8, epochs=1, verbose=0,
               callbacks=[pruning_callbacks.UpdatePruningStep()])
    for schedule, w in zip(ALL, _wrappers(loaded), strict=True):
        assert w.pruning_schedule == schedule
        sparsity = 1 - w.pruning_vars[0][1].numpy().mean()
        assert sparsity == pytest.approx(_expected_sparsity(schedule, 20, 200), abs=1e-6)


@pytest.mark.slow
def test_last_update_is_known_inside_a_traced_function():
    """Wrappers ask while fit traces its step: the answer must not depend on eagerness."""
    agp = schedules.AGP(0.5, end_step=30, frequency=10)
    found = {}

    @tf.function
    def traced():
        found["step"] = schedules.last_update(agp)
        return tf.constant(0)

    traced()
    assert found["step"] == schedules.last_update(agp) == 30
    assert schedules.last_update(schedules.Constant(0.5)) is None
    assert schedules.last_update(schedules.Constant(0.5, end_step=50)) == 50

import numpy as np
import pytest
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (
    PruneLowMagnitude,
)
from tensorflow_model_optimization.sparsity import keras as tfmot

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import pruner
from tfprune.masking.wrapper import PruningWrapper


def _compile(model, optimizer, loss):
    """compile, and build the optimizer now: fit then traces its step once, not twice."""
    model.compile(optimizer, loss)
    model.optimizer.build(model.trainable_variables)


def kernel_sparsity(layer):
    k = layer.layer.kernel.numpy() if hasattr(layer, "layer") else layer.kernel.numpy()
    return float((k == 0).mean())


def test_prune_wraps_every_prunable_layer_including_depthwise_and_separable(small_cnn):
    p = tfprune.prune(small_cnn, sparsity=0.5)
    wrapped = {w.layer.name: w for w in pruner.wrapped_layers(p)}
    assert set(wrapped) == {"conv", "dw", "sep", "head"}
    assert [v.name.split("/")[-1].split(":")[0] for v in wrapped["sep"].prunable_weights] == [
        "depthwise_kernel", "pointwise_kernel"]
    assert isinstance(wrapped["dw"], PruneLowMagnitude)


@pytest.mark.slow
def test_one_shot_reaches_target_on_every_weight_and_preserves_user_model(small_cnn):
    before = [w.copy() for w in small_cnn.get_weights()]
    p = tfprune.one_shot(small_cnn, 0.6)
    for w in pruner.wrapped_layers(p):
        for weight, mask, _ in w.pruning_vars:
            n = int(np.prod(weight.shape))
            assert int(mask.numpy().sum()) == max(1, round(n * 0.4))
            assert np.all(weight.numpy()[mask.numpy() == 0] == 0)
    for a, b in zip(before, small_cnn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_user_model_unchanged_after_pruned_fit(mlp, xy):
    x, y = xy
    before = [w.copy() for w in mlp.get_weights()]
    p = tfprune.prune(mlp, sparsity=0.5)
    _compile(p, "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    for a, b in zip(before, mlp.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_pruned_weights_stay_exactly_zero_through_optimizer_steps(mlp, xy):
    x, y = xy
    p = tfprune.prune(mlp, sparsity=0.7)
    _compile(p, keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(True))
    p.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[tfprune.PruningCallback()])
    for w in pruner.wrapped_layers(p):
        for weight, mask, _ in w.pruning_vars:
            assert mask.numpy().min() == 0.0
            assert np.all(weight.numpy()[mask.numpy() == 0] == 0.0)
    # the stripped model computes exactly what the pruned model does
    plain = tfprune.strip(p)
    np.testing.assert_allclose(plain.predict(x, verbose=0), p.predict(x, verbose=0), atol=1e-6)


@pytest.mark.slow
def test_global_scope_meets_total_within_one_weight(small_cnn):
    p = tfprune.one_shot(small_cnn, 0.8, scope="global")
    zeros = total = 0
    per_layer = []
    for w in pruner.wrapped_layers(p):
        for _, mask, _ in w.pruning_vars:
            m = mask.numpy()
            zeros += int((m == 0).sum())
            total += m.size
            per_layer.append(float((m == 0).mean()))
    assert abs(zeros - 0.8 * total) <= 1
    assert max(per_layer) - min(per_layer) > 0.05  # one threshold, not one sparsity per layer


@pytest.mark.slow
def test_global_scope_during_fit_follows_schedule(mlp, xy):
    x, y = xy
    sched = tfprune.schedules.AGP(0.75, end_step=8, frequency=2)
    p = tfprune.prune(mlp, schedule=sched, scope="global")
    _compile(p, "adam", keras.losses.SparseCategoricalCrossentropy(True))
    h = p.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert h.history["sparsity"][0] < 0.75
    assert abs(h.history["sparsity"][-1] - 0.75) < 0.01


def test_dict_scope_prunes_only_listed_layers_to_their_targets(mlp):
    p = tfprune.one_shot(mlp, scope={"d1": 0.5, "d3": 0.9})
    rep = pruner.sparsity_report(p)["layers"]
    assert set(rep) == {"d1", "d3"}
    assert rep["d1"] == pytest.approx(0.5, abs=0.01)
    assert rep["d3"] == pytest.approx(0.9, abs=0.03)
    assert kernel_sparsity(p.get_layer("d2")) == 0.0


@pytest.mark.slow
def test_random_criterion_is_seeded_and_differs_from_magnitude(mlp):
    a = tfprune.one_shot(mlp, 0.5, criterion=tfprune.criteria.Random(seed=1))
    b = tfprune.one_shot(mlp, 0.5, criterion=tfprune.criteria.Random(seed=1))
    c = tfprune.one_shot(mlp, 0.5, criterion="magnitude")
    ma = [w.pruning_vars[0][1].numpy() for w in pruner.wrapped_layers(a)]
    mb = [w.pruning_vars[0][1].numpy() for w in pruner.wrapped_layers(b)]
    mc = [w.pruning_vars[0][1].numpy() for w in pruner.wrapped_layers(c)]
    for x, y in zip(ma, mb, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(ma, mc, strict=True))


@pytest.mark.slow
def test_tfmot_strip_pruning_accepts_the_wrapper(small_cnn):
    p = tfprune.one_shot(small_cnn, 0.5)
    stripped = tfmot.strip_pruning(p)
    assert [type(layer).__name__ for layer in stripped.layers[1:]] == [
        "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Flatten", "Dense"]


@pytest.mark.slow
def test_tfmot_update_pruning_step_drives_the_wrapper(mlp, xy):
    x, y = xy
    p = tfprune.prune(mlp, schedule=tfmot.PolynomialDecay(0.0, 0.6, 0, 6, frequency=2))
    _compile(p, "adam", keras.losses.SparseCategoricalCrossentropy(True))
    p.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[tfmot.UpdatePruningStep()])
    assert pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.6, abs=0.02)


@pytest.mark.slow
def test_strip_returns_independent_plain_model(small_cnn):
    p = tfprune.one_shot(small_cnn, 0.5)
    plain = tfprune.strip(p)
    assert not pruner.is_pruned(plain)
    plain.get_layer("conv").kernel.assign(plain.get_layer("conv").kernel * 0 + 1)
    assert not np.all(p.get_layer("prune_conv").layer.kernel.numpy() == 1)


@pytest.mark.slow
def test_strip_writes_each_layers_masked_weights_to_that_layer(small_cnn):
    p = tfprune.one_shot(small_cnn, 0.5)
    plain = tfprune.strip(p)
    for w in pruner.wrapped_layers(p):
        got = {v.name.split("/")[-1]: v.numpy() for v in plain.get_layer(w.layer.name).weights}
        for wt, mask, _ in w.pruning_vars:
            assert (mask.numpy() == 0).any()
            np.testing.assert_array_equal(got[wt.name.split("/")[-1]], wt.numpy() * mask.numpy())


@pytest.mark.slow
def test_nested_model_layers_are_pruned_and_stripped():
    L = keras.layers
    inner = keras.Sequential([keras.Input((4,)), L.Dense(8, name="in_d")], name="inner")
    inp = keras.Input((4,))
    out = L.Dense(2, name="out_d")(inner(inp))
    m = keras.Model(inp, out)
    p = tfprune.one_shot(m, 0.5)
    assert {w.layer.name for w in pruner.wrapped_layers(p)} == {"in_d", "out_d"}
    plain = tfprune.strip(p)
    x = np.random.rand(3, 4).astype("float32")
    np.testing.assert_allclose(plain.predict(x, verbose=0), p.predict(x, verbose=0), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_saved_pruned_model_loads_without_custom_objects(small_cnn, tmp_path, fmt):
    p = tfprune.prune(small_cnn, schedule=tfprune.schedules.AGP(0.7, end_step=10),
                      criterion=tfprune.criteria.Random(seed=3))
    tfprune.before_step(p)
    path = str(tmp_path / ("m" if fmt == "savedmodel" else f"m.{fmt}"))
    p.save(path, **({"save_format": "tf"} if fmt == "savedmodel" else {}))
    loaded = keras.models.load_model(path)
    x = np.random.rand(2, 8, 8, 3).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), p.predict(x, verbose=0), atol=1e-5)
    if fmt != "savedmodel":  # SavedModel revives Keras objects from their config as well
        w = loaded.get_layer("prune_conv")
        assert isinstance(w, PruningWrapper)
        assert w.criterion == tfprune.criteria.Random(seed=3)
        assert w.pruning_schedule.get_config() == p.get_layer("prune_conv").pruning_schedule.get_config()


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "0.5", True])
def test_sparsity_outside_unit_interval_is_refused(mlp, bad):
    with pytest.raises(errors.ConfigError, match="sparsity"):
        tfprune.prune(mlp, sparsity=bad)


def test_both_or_neither_sparsity_and_schedule_are_refused(mlp):
    with pytest.raises(errors.ConfigError, match="not both"):
        tfprune.prune(mlp, sparsity=0.5, schedule=tfprune.schedules.Constant(0.5))
    with pytest.raises(errors.ConfigError, match="neither was given"):
        tfprune.prune(mlp)


def test_unknown_criterion_lists_valid_names_and_suggests(mlp):
    with pytest.raises(errors.ConfigError, match=r"Did you mean 'magnitude'.*'random'"):
        tfprune.prune(mlp, sparsity=0.5, criterion="magnitud")


def test_unknown_scope_is_refused_with_suggestion(mlp):
    with pytest.raises(errors.ConfigError, match=r"Unknown scope 'globl'. Did you mean 'global'"):
        tfprune.prune(mlp, sparsity=0.5, scope="globl")


def test_scope_dict_with_unknown_layer_is_refused(mlp):
    with pytest.raises(errors.ConfigError, match=r"'d9'.*Did you mean 'd1'|'d9'"):
        tfprune.prune(mlp, sparsity=0.5, scope={"d9": 0.5})


def test_scope_dict_with_unprunable_layer_is_refused():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d"),
                          keras.layers.Dropout(0.1, name="drop")])
    with pytest.raises(errors.ConfigError, match="'drop'.*no prunable weights"):
        tfprune.prune(m, sparsity=0.5, scope={"drop": 0.5})


def test_model_with_nothing_prunable_is_refused():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.1), keras.layers.ReLU()])
    with pytest.raises(errors.NothingToPruneError, match="no prunable layer"):
        tfprune.prune(m, sparsity=0.5)


def test_subclassed_model_is_refused_by_shrink_with_what_is_supported():
    # prune/one_shot/strip accept subclassed models (tests/masking/test_subclassed.py);
    # the functions that follow the layer graph (shrink) still refuse them
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(errors.ModelTypeError, match="subclassed.*Sequential and Functional"):
        tfprune.shrink(net)


def test_keras3_model_is_translated_not_refused():
    # since compat.keras3_io (k3): a Keras 3 model is translated to tf_keras first
    import keras as keras3

    m = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    p = tfprune.prune(m, sparsity=0.5)
    assert [type(x).__name__ for x in p.layers] == ["PruningWrapper"]


def test_unbuilt_model_is_refused():
    m = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(errors.ModelTypeError, match="not built"):
        tfprune.prune(m, sparsity=0.5)


@pytest.mark.slow
def test_training_without_callback_names_the_callback(mlp, xy):
    x, y = xy
    p = tfprune.prune(mlp, sparsity=0.5)
    _compile(p, "adam", keras.losses.SparseCategoricalCrossentropy(True))
    with pytest.raises(Exception, match=r"tfprune\.callbacks\.PruningCallback"):
        p.fit(x, y, epochs=1, verbose=0)


def test_pruned_h5_with_a_registered_custom_layer_reloads(tmp_path):
    @keras.utils.register_keras_serializable(package="tfprune_tests")
    class RegisteredDense(keras.layers.Dense):
        pass

    m = keras.Sequential([keras.Input((4,)), RegisteredDense(6, name="md"),
                          keras.layers.Dense(2)])
    p = tfprune.prune(m, sparsity=0.5)
    p.save(tmp_path / "p.h5")
    again = keras.models.load_model(tmp_path / "p.h5")
    assert type(again.layers[0].layer).__name__ == "RegisteredDense"
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(again(x).numpy(), p(x).numpy(), rtol=1e-6)

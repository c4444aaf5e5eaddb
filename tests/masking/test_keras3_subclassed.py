"""Subclassed Keras 3 models (``class M(keras.Model)`` with ``import keras``): prune, train in
Keras 3's own fit with Keras 3 optimizers/losses/callbacks, strip to the user's class, save and
reload with plain Keras; n:m, block, one_shot, sensitivity; channel/head and data criteria
refused with the reason (tfprune/masking/keras3_subclassed.py)."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.masking import keras3_slots

keras = pytest.importorskip("keras")


@keras.saving.register_keras_serializable("tfprune_tests_k3sub")
class MLP(keras.Model):
    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.fc1 = keras.layers.Dense(units, activation="relu", name="fc1")
        self.fc2 = keras.layers.Dense(3, name="fc2")

    def call(self, x):
        return self.fc2(self.fc1(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Block(keras.layers.Layer):
    """A custom layer holding a conv and a BatchNormalization: walked into."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(filters, 3, padding="same", name="conv")
        self.bn = keras.layers.BatchNormalization(name="bn")

    def call(self, x, training=None):
        return keras.ops.relu(self.bn(self.conv(x), training=training))


@keras.saving.register_keras_serializable("tfprune_tests_k3sub")
class ConvNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = Block(8, name="block")
        self.conv2 = keras.layers.Conv2D(8, 3, name="conv2")
        self.bn2 = keras.layers.BatchNormalization(name="bn2")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(4, name="head")

    def call(self, x, training=None):
        x = keras.ops.relu(self.bn2(self.conv2(self.block(x, training=training)),
                                    training=training))
        return self.head(self.pool(x))


def _mlp():
    m = MLP()
    m(np.zeros((1, 8), "float32"))
    return m


def _conv():
    m = ConvNet()
    m(np.zeros((1, 8, 8, 3), "float32"))
    return m


def _data(shape, classes, n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, classes, n)


def _zero_frac(v):
    return float((np.asarray(v) == 0).mean())


def _compile(m):
    m.compile(keras.optimizers.Adam(1e-2),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=[keras.metrics.SparseCategoricalAccuracy()])


def _kernels(m):
    return {layer.name: layer.kernel.numpy() for layer, _ in keras3_slots.prunable(m)}


@pytest.mark.slow
@pytest.mark.parametrize("make, shape, classes", [(_mlp, (8,), 3), (_conv, (8, 8, 3), 4)])
def test_prune_fit_strip_save_reload(tmp_path, make, shape, classes):
    m = make()
    before = [v.numpy().copy() for v in m.weights]
    x, y = _data(shape, classes)
    p = tfprune.prune(m, sparsity=0.5)
    assert type(p) is type(m) and p is not m
    _compile(p)
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5)
    h = p.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[tfprune.PruningCallback(), stop])
    assert h.history["sparsity"][-1] == pytest.approx(0.5, abs=0.01)
    kernels = _kernels(p)
    assert all(_zero_frac(k) == pytest.approx(0.5, abs=0.02) for k in kernels.values())
    # more training steps: after every batch (not only at the end) pruned weights are zero
    seen = []
    probe = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        all(np.all(k[kernels[n] == 0] == 0) for n, k in _kernels(p).items())))
    p.fit(x, y, epochs=1, batch_size=16, verbose=0,
          callbacks=[tfprune.PruningCallback(), probe])
    assert seen == [True] * 4
    for name, k in _kernels(p).items():
        assert np.all(k[kernels[name] == 0] == 0), name
    # the model passed in is unchanged and carries no tfprune state
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, m.weights, strict=True))
    assert keras3_slots.state_of(m) is None
    s = tfprune.strip(p)
    assert type(s) is type(m) and keras3_slots.state_of(s) is None
    assert all(_zero_frac(k) == pytest.approx(0.5, abs=0.02) for k in _kernels(s).values())
    np.testing.assert_allclose(s(x[:8]), p(x[:8]), atol=1e-6)
    s.save(tmp_path / "s.keras")
    r = keras.models.load_model(tmp_path / "s.keras")
    assert type(r) is type(m)
    np.testing.assert_allclose(r(x[:8]), s(x[:8]), atol=1e-6)


@pytest.mark.slow
def test_schedule_ramps_sparsity_during_fit():
    p = tfprune.prune(_mlp(), schedule=tfprune.schedules.AGP(0.75, end_step=8, frequency=2))
    _compile(p)
    x, y = _data((8,), 3)
    h = p.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    s = h.history["sparsity"]
    assert s[0] < s[-1] and s[-1] == pytest.approx(0.75, abs=0.01)
    assert keras3_slots.state_of(p).step == 12


def test_one_shot_inplace_exclude_and_global():
    m = _mlp()
    p = tfprune.one_shot(m, 0.75, exclude=["fc2"])
    assert _zero_frac(p.fc1.kernel) == 0.75 and _zero_frac(p.fc2.kernel) == 0
    g = tfprune.one_shot(m, 0.5, scope="global")
    assert keras3_slots.sparsity_report(g)["sparsity"] == pytest.approx(0.5, abs=0.01)
    same = tfprune.one_shot(m, 0.5, inplace=True)
    assert same is m and _zero_frac(m.fc1.kernel) == 0.5
    assert tfprune.strip(m, inplace=True) is m and keras3_slots.state_of(m) is None
    with pytest.raises(errors.AlreadyPrunedError, match="already pruned"):
        tfprune.prune(p, sparsity=0.5)


@pytest.mark.slow
def test_nm_and_block_patterns():
    m = _conv()
    nm = tfprune.one_shot(m, granularity="n:m", n_m=(2, 4), exclude=["conv"])
    for name, k in _kernels(nm).items():
        if name == "conv":
            assert _zero_frac(k) == 0  # excluded (3 input channels: no 2:4 groups)
            continue
        axis = k.ndim - 2
        groups = np.moveaxis(k, axis, -1).reshape(-1, k.shape[axis] // 4, 4)
        assert np.all((groups != 0).sum(-1) == 2), name
    b = tfprune.one_shot(_mlp(), 0.5, granularity="block", block=(4, 1))
    k = b.fc1.kernel.numpy()
    blocks = (k.reshape(2, 4, 16) != 0).sum(1)
    assert set(np.unique(blocks)) <= {0, 4} and _zero_frac(k) == 0.5


def test_nm_refuses_a_kernel_that_does_not_tile():
    with pytest.raises(errors.ConfigError, match=r"Layer 'conv' \(Conv2D\).*divisible by 4.*exclude=\['conv'\]"):
        tfprune.one_shot(_conv(), granularity="n:m", n_m=(2, 4))


def test_channel_head_and_data_criteria_refused_with_reason():
    m = _mlp()
    for unit in ("channel", "head"):
        with pytest.raises(errors.ConfigError,
                           match=rf"granularity='{unit}' is refused for subclassed model MLP.*"
                                 "no\\s+graph"):
            tfprune.prune(m, sparsity=0.5, granularity=unit)
    with pytest.raises(errors.ConfigError, match=r"'taylor'.*abs_grad_weight.*'magnitude'"):
        tfprune.prune(m, sparsity=0.5, criterion="taylor")
    with pytest.raises(errors.ConfigError, match=r"'wanda'.*weight-only criterion"):
        tfprune.one_shot(m, 0.5, criterion="wanda", data=_data((8,), 3))
    with pytest.raises(errors.ConfigError, match="compensate"):
        tfprune.one_shot(m, 0.5, compensate=True, data=_data((8,), 3))
    assert keras3_slots.state_of(m) is None


def test_uncopyable_model_offers_inplace(keras3_subclassed):
    m = keras3_subclassed  # __init__ takes no **kwargs: from_config cannot rebuild it
    with pytest.raises(errors.ModelTypeError, match=r"Cannot copy.*K3.*inplace=True"):
        tfprune.prune(m, sparsity=0.5)
    p = tfprune.one_shot(m, 0.5, inplace=True)
    assert p is m and _zero_frac(m.d.kernel) == 0.5


@pytest.mark.slow
def test_sensitivity_at_weight_granularity():
    m = _mlp()
    _compile(m)
    before = [v.numpy().copy() for v in m.weights]
    x, y = _data((8,), 3)
    r = tfprune.sensitivity(m, (x, y), levels=(0.5, 0.9), metric="accuracy", progress=False)
    assert set(r.curves) == {"fc1", "fc2"} and r.sizes == {"fc1": 128, "fc2": 48}
    assert all(len(c) == 2 for c in r.curves.values())
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, m.weights, strict=True))
    loss = tfprune.sensitivity(m, (x, y), levels=(0.99,), progress=False)
    assert loss.curves["fc1"][0] != pytest.approx(loss.baseline)  # pruning changed the loss
    with pytest.raises(errors.ConfigError, match="granularity='channel' is refused"):
        tfprune.sensitivity(m, (x, y), granularity="channel", progress=False)


def test_custom_training_loop_with_before_step():
    import tensorflow as tf

    p = tfprune.prune(_mlp(), sparsity=0.5)
    opt = keras.optimizers.SGD(0.5)
    x, y = _data((8,), 3, n=16)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    zeros = []
    for _ in range(3):
        tfprune.before_step(p)
        zeros.append(_zero_frac(p.fc1.kernel))
        with tf.GradientTape() as tape:
            loss = loss_fn(y, p(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, p.trainable_variables),
                                p.trainable_variables, strict=True))
    assert zeros == [0.5] * 3 and _zero_frac(p.fc1.kernel) < 0.5  # the step regrew them
    assert keras3_slots.state_of(p).step == 3
    assert _zero_frac(tfprune.strip(p).fc1.kernel) == 0.5


def test_summary_counts_the_pruned_and_stripped_model():
    p = tfprune.one_shot(_mlp(), 0.5)
    rows = {r["name"]: r for r in tfprune.summary(p, print_fn=None)["layers"]}
    # half of the 8x16 kernel (the biases start at zero)
    assert rows["fc1"]["params"] == 8 * 16 + 16 and rows["fc1"]["nonzero_params"] == 64
    stripped = tfprune.summary(tfprune.strip(p), print_fn=None)
    assert stripped["params"] == 144 + 51 and stripped["nonzero_params"] == 64 + 24

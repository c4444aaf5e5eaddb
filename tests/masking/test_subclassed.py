"""Subclassed tf_keras models: prune / one_shot / strip without a graph (issue 27 item 3)."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import pruner, subclassed

L = keras.layers


class MLP(keras.Model):
    def __init__(self, units=16, **kw):
        super().__init__(**kw)
        self.units = units
        self.fc1 = L.Dense(units, activation="relu")
        self.hidden = [L.Dense(units, activation="relu"), L.Dense(units, activation="relu")]
        self.out = L.Dense(3)

    def call(self, x):
        x = self.fc1(x)
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)

    def get_config(self):
        return {"units": self.units, "name": self.name}


class Block(L.Layer):
    """A custom layer holding layers: walked into."""

    def __init__(self, filters, **kw):
        super().__init__(**kw)
        self.filters = filters
        self.conv = L.Conv2D(filters, 3, padding="same", activation="relu")
        self.bn = L.BatchNormalization()

    def call(self, x, training=None):
        return self.bn(self.conv(x), training=training)

    def get_config(self):
        return dict(super().get_config(), filters=self.filters)


class CNN(keras.Model):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.stem = L.Conv2D(8, 3, padding="same", activation="relu")
        self.blocks = [Block(8), Block(8)]
        self.heads = {"cls": L.Dense(4)}
        self.pool = L.GlobalAveragePooling2D()

    def call(self, x, training=None):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, training=training)
        return self.heads["cls"](self.pool(x))


def _mlp():
    m = MLP(16)
    m(np.zeros((1, 6), "float32"))
    return m


def _cnn():
    m = CNN()
    m(np.zeros((1, 8, 8, 3), "float32"))
    return m


def _data(shape, classes, n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, classes, n)


def _kernels(model):
    return {lyr.name: lyr.kernel.numpy() for _, _, _, lyr in subclassed.slots(model)
            if hasattr(lyr, "kernel")}


def _sparsity(model):
    ks = _kernels(model)
    return float(np.mean(np.concatenate([(k == 0).ravel() for k in ks.values()])))


@pytest.mark.slow  # two fits: 14-28 s on the shared 2-core machine
@pytest.mark.parametrize("make,shape,classes", [(_mlp, (6,), 3), (_cnn, (8, 8, 3), 4)],
                         ids=["mlp", "cnn"])
def test_prune_fit_strip_gives_users_class(make, shape, classes, tmp_path):
    m = make()
    before = [w.numpy().copy() for w in m.weights]
    x, y = _data(shape, classes)
    p = tfprune.prune(m, sparsity=0.5)
    assert type(p) is type(m) and p is not m
    ws = pruner.wrapped_layers(p)
    assert len(ws) == len(_kernels(m))  # every Dense/Conv, also in the list/dict/custom block
    p.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.fit(x, y, epochs=2, batch_size=16, verbose=0,
          callbacks=[tfprune.callbacks.PruningCallback()])
    assert pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.01)

    s = tfprune.strip(p)
    assert type(s) is type(m)
    assert not pruner.wrapped_layers(s) and pruner.wrapped_layers(p)  # p untouched
    assert _sparsity(s) == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(s(x, training=False), p(x, training=False), atol=1e-5)
    # the input model is unchanged
    for w, b in zip(m.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)
    assert not any((k == 0).any() for k in _kernels(m).values())

    # save_weights / load_weights round trip into a fresh instance of the user's class
    path = str(tmp_path / "ckpt")
    s.save_weights(path)
    fresh = make()
    fresh.load_weights(path)
    np.testing.assert_allclose(fresh(x, training=False), s(x, training=False), atol=1e-6)


def test_names_are_the_users_and_exclude_uses_them():
    m = _mlp()
    p = tfprune.prune(m, sparsity=0.5, exclude=[m.out.name])
    assert type(p.out).__name__ == "Dense" and p.out.name == m.out.name
    assert {w.layer.name for w in pruner.wrapped_layers(p)} == {
        m.fc1.name, m.hidden[0].name, m.hidden[1].name}


def test_one_shot_and_its_strip():
    m = _cnn()
    p = tfprune.one_shot(m, 0.75)
    assert pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.75, abs=0.01)
    s = tfprune.strip(p)
    assert _sparsity(s) == pytest.approx(0.75, abs=0.01)
    x, _ = _data((8, 8, 3), 4, n=4)
    np.testing.assert_allclose(s(x, training=False), p(x, training=False), atol=1e-5)


def test_n_m_and_block():
    m = _mlp()
    first = [m.fc1.name]  # 6 inputs: not a multiple of 4
    p = tfprune.one_shot(m, granularity="2:4", exclude=first)
    k = tfprune.strip(p).hidden[0].kernel.numpy()
    # 2 of every 4 weights along the input axis are kept
    assert ((k.reshape(4, 4, -1) != 0).sum(axis=1) == 2).all()
    b = tfprune.strip(tfprune.one_shot(m, 0.5, granularity="block:4x1",
                                           exclude=first))
    kb = b.hidden[1].kernel.numpy().reshape(4, 4, -1)
    zero_blocks = (kb == 0).all(axis=1)
    assert zero_blocks.mean() == pytest.approx(0.5) and ((kb == 0).any(axis=1) == zero_blocks).all()


@pytest.mark.parametrize("granularity", ["channel", "head"])
def test_channel_and_head_granularity_refused_with_reason(granularity):
    with pytest.raises(errors.ConfigError, match="subclassed model has no graph"):
        tfprune.prune(_cnn(), sparsity=0.5, granularity=granularity)


def test_inplace_changes_the_given_model_and_strip_inplace_undoes_it():
    m = _mlp()
    p = tfprune.one_shot(m, 0.5, inplace=True)
    assert p is m and type(m.fc1).__name__ == "PruningWrapper"
    assert (m.fc1.layer.kernel.numpy() == 0).mean() == pytest.approx(0.5)
    s = tfprune.strip(m, inplace=True)
    assert s is m and type(m.fc1).__name__ == "Dense" and not pruner.wrapped_layers(m)
    assert (m.fc1.kernel.numpy() == 0).mean() == pytest.approx(0.5)


def test_uncopyable_model_refused_offering_inplace():
    class Fn(keras.Model):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn
            self.fc = L.Dense(4)

        def call(self, x):
            return self.fn(self.fc(x))

    m = Fn(lambda t: t)
    m(np.zeros((1, 3), "float32"))
    with pytest.raises(errors.ModelTypeError, match="inplace=True"):
        tfprune.prune(m, sparsity=0.5)
    p = tfprune.prune(m, sparsity=0.5, inplace=True)
    assert p is m and pruner.wrapped_layers(m)


def test_inplace_refused_for_graph_models(mlp):
    with pytest.raises(errors.ConfigError, match="only subclassed models"):
        tfprune.prune(mlp, sparsity=0.5, inplace=True)


def test_unbuilt_and_already_pruned_refused():
    with pytest.raises(errors.ModelTypeError, match="not built"):
        tfprune.prune(MLP(), sparsity=0.5)
    p = tfprune.prune(_mlp(), sparsity=0.5)
    with pytest.raises(errors.AlreadyPrunedError, match="already pruned"):
        tfprune.prune(p, sparsity=0.5)


def test_keras3_subclassed_model_channel_refused_weight_pruned_in_place(keras3_subclassed):
    m = keras3_subclassed  # Keras 3: masks beside its own layers (masking/keras3_subclassed.py)
    with pytest.raises(errors.ConfigError, match=r"'channel' is refused for subclassed model K3"):
        tfprune.prune(m, sparsity=0.5, granularity="channel", inplace=True)
    p = tfprune.one_shot(m, 0.5, inplace=True)
    assert p is m and float((m.d.kernel.numpy() == 0).mean()) == 0.5


def test_data_criterion_one_shot():
    m = _mlp()
    x, y = _data((6,), 3, n=32)
    p = tfprune.one_shot(m, 0.5, criterion="taylor", data=tfprune.Calibration((x, y), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)))
    assert pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.01)


def test_scope_mapping_and_global():
    m = _mlp()
    p = tfprune.one_shot(m, scope={m.hidden[0].name: 0.75})
    assert [w.layer.name for w in pruner.wrapped_layers(p)] == [m.hidden[0].name]
    assert pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.75)
    g = tfprune.one_shot(m, 0.5, scope="global")
    assert pruner.sparsity_report(g)["sparsity"] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(errors.ConfigError, match="does not hold"):
        tfprune.prune(m, sparsity=0.5, exclude=["nope"])


def test_layer_held_twice_gets_one_wrapper():
    class Tied(keras.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.fc = L.Dense(4)
            self.again = [self.fc]

        def call(self, x):
            return self.again[0](self.fc(x))

    m = Tied()
    m(np.zeros((1, 4), "float32"))
    p = tfprune.one_shot(m, 0.5)
    assert p.fc is p.again[0] and len(pruner.wrapped_layers(p)) == 1
    s = tfprune.strip(p)
    assert s.fc is s.again[0] and (s.fc.kernel.numpy() == 0).mean() == pytest.approx(0.5)


def test_model_built_with_build_not_called():
    m = MLP(8)
    m.build((None, 6))
    p = tfprune.one_shot(m, 0.5)
    x, _ = _data((6,), 3, n=4)
    np.testing.assert_allclose(tfprune.strip(p)(x), p(x), atol=1e-6)
    assert pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5)

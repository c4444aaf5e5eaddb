"""Every prunable layer kind trains with a data criterion, strips to its stock class."""

import numpy as np
import pytest

import tfprune
from tfprune import errors, layers
from tfprune.compat import keras

L = keras.layers
RNG = np.random.default_rng(0)


def _train(model, x, y, criterion="taylor"):
    import tensorflow_model_optimization as tfmot
    every = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
    p = tfprune.prune(model, schedule=every, criterion=criterion)
    p.compile("adam", "mse")
    p.optimizer.build(p.trainable_variables)  # fit traces its step once, not twice
    p.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])
    return p


@pytest.mark.slow
def test_recurrent_layers_prune_kernel_and_recurrent_kernel():
    # LSTM, GRU and SimpleRNN side by side in one model: one fit trace instead of three
    rnns = {"lstm": L.LSTM, "gru": L.GRU, "simple_rnn": L.SimpleRNN}
    i = keras.Input((5, 4))
    h = L.Concatenate()([rnn(8, name=name)(i) for name, rnn in rnns.items()])
    p = _train(keras.Model(i, L.Dense(2)(h)), RNG.normal(size=(16, 5, 4)).astype("float32"),
               np.zeros((16, 2)))
    wrapped = {w.layer.name: w for w in tfprune.masking.pruner.wrapped_layers(p)}
    plain = tfprune.strip(p)
    for name, rnn in rnns.items():
        assert len(wrapped[name].pruning_vars) == 2
        assert type(plain.get_layer(name)) is rnn
        cell = plain.get_layer(name).cell
        for k in (cell.kernel, cell.recurrent_kernel):
            assert np.mean(k.numpy() == 0) == pytest.approx(0.5, abs=0.01), (name, k.name)


@pytest.mark.slow
def test_multi_head_attention_prunes_its_four_kernels():
    inp = keras.Input((5, 4))
    out = L.Flatten()(L.MultiHeadAttention(2, 4, name="mha")(inp, inp))
    p = _train(keras.Model(inp, out), RNG.normal(size=(16, 5, 4)).astype("float32"),
               np.zeros((16, 20)))
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    assert len(w.pruning_vars) == 4
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("conv,shape", [(L.Conv3D, (4, 4, 4, 2)), (L.Conv2DTranspose, (4, 4, 4))])
def test_conv3d_and_conv2d_transpose_prune_with_channel_criterion(conv, shape):
    m = keras.Sequential([keras.Input(shape), conv(4, 2, name="c"), L.Flatten(), L.Dense(2)])
    p = _train(m, RNG.normal(size=(8, *shape)).astype("float32"), np.zeros((8, 2)), "l1")
    k = tfprune.strip(p).get_layer("c").kernel.numpy()
    out_axis = -2 if conv is L.Conv2DTranspose else -1
    alive = np.moveaxis(k != 0, out_axis, -1).reshape(-1, 4).any(axis=0)
    assert alive.sum() == 2  # whole output channels removed


@pytest.mark.slow
def test_nested_model_and_subclassed_builtin_layer_are_pruned():
    class MyDense(L.Dense):
        pass

    inner = keras.Sequential([keras.Input((4,)), MyDense(8, name="mine")], name="inner")
    i = keras.Input((4,))
    p = _train(keras.Model(i, L.Dense(2, name="top")(inner(i))),
               RNG.normal(size=(8, 4)).astype("float32"), np.zeros((8, 2)), "obd")
    names = {w.layer.name for w in tfprune.masking.pruner.wrapped_layers(p)}
    assert names == {"mine", "top"}


def test_register_accepts_dotted_weight_paths():
    class Holder(L.Layer):
        def build(self, shape):
            self.inner = L.Dense(3)
            self.inner.build(shape)

        def call(self, x):
            return self.inner(x)

    layers.register(Holder, weights=["inner.kernel"])
    h = Holder()
    h.build((None, 2))
    assert [v.shape.as_list() for v in layers.prunable_weights(h, ["inner.kernel"])] == [[2, 3]]
    with pytest.raises(errors.UnsupportedLayerError, match="no weight attribute 'inner.nope'"):
        layers.prunable_weights(h, ["inner.nope"])

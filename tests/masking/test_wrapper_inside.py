"""PruningWrapper prunes inside layer wrappers (Bidirectional, TimeDistributed, ConvLSTM2D)
and works under mixed precision: the stripped model is the trained one."""

import numpy as np
import pytest

import tfprune
from tfprune.compat import keras
from tfprune.masking import pruner

from ._helpers import assert_close, fit

L = keras.layers
RNG = np.random.default_rng(0)


@pytest.mark.slow
@pytest.mark.parametrize("make,names", [
    (lambda: L.Bidirectional(L.LSTM(8), name="w"),
     ["forward_layer.cell.kernel", "forward_layer.cell.recurrent_kernel",
      "backward_layer.cell.kernel", "backward_layer.cell.recurrent_kernel"]),
    (lambda: L.TimeDistributed(L.Dense(8), name="w"), ["layer.kernel"]),
])
def test_layer_wrappers_are_pruned_inside(make, names):
    x = RNG.normal(size=(8, 5, 4)).astype("float32")
    m = keras.Sequential([keras.Input((5, 4)), make(), L.Flatten(), L.Dense(2)])
    p = fit(tfprune.prune(m, sparsity=0.5), x, np.ones((8, 2)))
    w = next(w for w in pruner.wrapped_layers(p) if w.layer.name == "w")
    assert w.prunable_weight_names == names
    plain = tfprune.strip(p)
    layer = plain.get_layer("w")
    assert type(layer) is type(m.get_layer("w"))
    inner = [layer.forward_layer.cell.kernel, layer.backward_layer.cell.recurrent_kernel] \
        if isinstance(layer, L.Bidirectional) else [layer.layer.kernel]
    for k in inner:
        assert np.mean(k.numpy() == 0) == pytest.approx(0.5, abs=0.02)
    assert_close(plain(x), p(x))


@pytest.mark.slow  # ~40 s under the shared load (RNN/attention tracing)
def test_conv_lstm_is_pruned():
    m = keras.Sequential([keras.Input((3, 4, 4, 2)), L.ConvLSTM2D(4, 3, name="c"),
                          L.Flatten(), L.Dense(2)])
    p = tfprune.one_shot(m, 0.5)
    k = tfprune.strip(p).get_layer("c").cell.kernel.numpy()
    assert np.mean(k == 0) == pytest.approx(0.5, abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_prunes_trains_and_strips(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        x = RNG.normal(size=(8, 6)).astype("float32")
        m = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu"),
                              L.Dense(2, dtype="float32")])
        p = fit(tfprune.prune(m, sparsity=0.5), x, np.ones((8, 2)))
        assert pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5)
        plain = tfprune.strip(p)
        assert plain.layers[0].dtype_policy.name == policy
        assert plain.layers[0].kernel.dtype == "float32"
        assert_close(plain(x), p(x))
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_layer_wrapper_whose_inner_layer_cannot_be_pruned_is_named_in_a_warning():
    from tfprune.masking import validate

    class Project(L.Layer):
        def build(self, shape):
            self.w = self.add_weight("w", (shape[-1], 3))

        def call(self, x):
            return x @ self.w

    td = L.TimeDistributed(Project(), name="td")
    td.build((None, 5, 4))
    with pytest.warns(UserWarning, match=r"'td' \(TimeDistributed\) holds a kernel .*left dense"):
        validate._warn_unregistered([td], set())

"""Property-based fuzzing of graph.build + structured.plan/apply_masks/shrink.

Random small Functional tf_keras models (chains, residual adds, concatenations, gates
(Multiply), depthwise/separable/transposed convolutions, BatchNormalization,
LayerNormalization, PReLU, pooling, upsampling, Flatten/Dense heads): building the dependency
graph and shrinking never raises anything but a ``tfprune.errors`` class, and whenever
shrink succeeds the shrunk model computes what the masked model computes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tfprune import errors, graph, structured
from tfprune.compat import keras

L = keras.layers
OPS = ("conv", "bn", "depthwise", "separable", "residual", "concat", "relu", "pool", "dense",
       "transpose", "multiply", "flatten", "maxpool", "layernorm", "prelu", "upsample")


def _model(ops, seed):
    rng = np.random.default_rng(seed)
    inp = keras.Input((6, 6, 3))
    x = L.Conv2D(4, 3, padding="same", name="stem")(inp)
    flat = False
    for i, (op, width) in enumerate(ops):
        if flat and op not in ("dense", "relu", "bn", "layernorm"):
            continue
        if op == "conv":
            x = L.Conv2D(width, 3, padding="same", name=f"conv{i}")(x)
        elif op == "bn":
            x = L.BatchNormalization(name=f"bn{i}")(x)
        elif op == "depthwise":
            x = L.DepthwiseConv2D(3, padding="same", name=f"dw{i}")(x)
        elif op == "separable":
            x = L.SeparableConv2D(width, 3, padding="same", name=f"sep{i}")(x)
        elif op == "residual":
            y = L.Conv2D(x.shape[-1], 1, name=f"res{i}")(x)
            x = L.Add(name=f"add{i}")([x, y])
        elif op == "concat":
            y = L.Conv2D(width, 1, name=f"branch{i}")(x)
            x = L.Concatenate(name=f"cat{i}")([x, y])
        elif op == "relu":
            x = L.ReLU(name=f"relu{i}")(x)
        elif op == "transpose":
            x = L.Conv2DTranspose(width, 3, padding="same", name=f"tconv{i}")(x)
        elif op == "multiply":
            y = L.Conv2D(x.shape[-1], 1, activation="sigmoid", name=f"gate{i}")(x)
            x = L.Multiply(name=f"mul{i}")([x, y])
        elif op == "flatten":
            x = L.Flatten(name=f"flat{i}")(x)
            flat = True
        elif op == "maxpool":
            x = L.MaxPooling2D(2, padding="same", name=f"mp{i}")(x)
        elif op == "layernorm":
            x = L.LayerNormalization(name=f"ln{i}")(x)
        elif op == "prelu":
            x = L.PReLU(shared_axes=[1, 2], name=f"prelu{i}")(x)
        elif op == "upsample":
            x = L.UpSampling2D(name=f"up{i}")(x)
        elif op == "pool":
            x = L.GlobalAveragePooling2D(name=f"gap{i}")(x)
            flat = True
        elif op == "dense":
            if not flat:
                x = L.GlobalAveragePooling2D(name=f"gap{i}")(x)
                flat = True
            x = L.Dense(width, name=f"fc{i}")(x)
    if not flat:
        x = L.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, L.Dense(3, name="head")(x))
    # random BN statistics and weights, so that a wrongly kept or removed channel shows
    model.set_weights([rng.normal(size=w.shape).astype("float32") if "moving_variance" not in
                       v.name else rng.uniform(0.5, 2.0, size=w.shape).astype("float32")
                       for v, w in zip(model.weights, model.get_weights(), strict=True)])
    return model


@st.composite
def architectures(draw):
    ops = draw(st.lists(st.tuples(st.sampled_from(OPS), st.integers(2, 6)),
                        min_size=1, max_size=5))
    return ops, draw(st.integers(0, 1000)), draw(st.sampled_from([0.25, 0.5, 0.75]))


@pytest.mark.slow
@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(architectures())
def test_build_and_shrink_raise_only_tfprune_errors_and_keep_outputs(arch):
    ops, seed, sparsity = arch
    model = _model(ops, seed)
    x = np.random.default_rng(seed).normal(size=(4, 6, 6, 3)).astype("float32")
    try:
        g = graph.build(model)
        str(g)  # printing walks every group
        plan = structured.plan(model, sparsity=sparsity, criterion="l2")
        masked = structured.apply_masks(model, plan)
        small = structured.shrink(model, plan)
    except errors.TfpruneError as e:
        event(f"refused: {type(e).__name__}: {str(e)[:60]}")
        return  # a clear refusal is allowed
    event(f"shrunk: {model.count_params()} -> {small.count_params()} params")
    expected = masked(x, training=False).numpy()
    scale = max(1.0, float(np.abs(expected).max()))  # random weights: outputs up to ~1e3
    np.testing.assert_allclose(small(x, training=False).numpy(), expected, rtol=1e-4,
                               atol=1e-5 * scale)
    assert small.count_params() <= model.count_params()
    # shrink never modifies the user's model
    assert model.count_params() == _model(ops, seed).count_params()


def test_concatenation_segments_print_their_group_channels():
    m = _model([("concat", 6), ("residual", 2), ("conv", 2)], 592)
    text = str(graph.build(m)["stem"])
    assert "produces channels (kernel output axis, bias) as group channels 4..9 of 10" in text
    assert "stem [Conv2D]       produces channels (kernel output axis, bias) as group " \
           "channels 0..3 of 10" in text


def test_shrink_never_leaves_a_concatenated_producer_with_zero_filters():
    m = _model([("concat", 6), ("residual", 2), ("conv", 2)], 592)
    plan = structured.plan(m, sparsity=0.75, criterion="l2")
    try:
        structured.shrink(m, plan)
    except errors.TfpruneError:
        pass  # a clear refusal is acceptable too

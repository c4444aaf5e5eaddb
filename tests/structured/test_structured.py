"""Structured masks, shrinking and block dropping."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfprune import errors, graph
from tfprune import structured as S
from tfprune.compat import keras
from tfprune.core import masks

L = keras.layers


def _randomize(model, seed=0):
    """Random weights and BN statistics so that every masked weight matters."""
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if isinstance(layer, L.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in ws])
        elif ws and not isinstance(layer, keras.Model):
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in ws])
        if isinstance(layer, keras.Model):
            _randomize(layer, seed + 1)
    return model


def residual():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(8, 3, padding="same", name="a")(i)
    a = L.BatchNormalization(name="a_bn")(a)
    a = L.ReLU(name="a_relu")(a)
    b = L.Conv2D(8, 3, padding="same", activation="sigmoid", name="b")(a)
    s = L.Add(name="add")([a, b])
    p = L.MaxPooling2D(name="pool")(s)
    return keras.Model(i, L.Conv2D(3, 1, name="head")(p), name="residual")


def concat():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(6, 1, name="a")(i)
    b = L.Conv2D(5, 3, padding="same", name="b")(i)
    c = L.Concatenate(name="cat")([a, b])
    c = L.BatchNormalization(name="cat_bn")(c)
    return keras.Model(i, L.Conv2D(3, 1, name="head")(c), name="concat")


def depthwise():
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(6, 1, name="a")(i)
    d = L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(a)
    d = L.BatchNormalization(name="dw_bn")(d)
    s = L.SeparableConv2D(7, 3, depth_multiplier=2, name="sep")(d)
    return keras.Model(i, L.Conv2D(3, 1, name="head")(s), name="depthwise")


def se_flatten():
    i = keras.Input((6, 6, 3))
    x = L.Conv2D(8, 3, padding="same", name="feat")(i)
    s = L.GlobalAveragePooling2D(name="gap")(x)
    s = L.Reshape((1, 1, 8), name="reshape")(s)
    s = L.Conv2D(4, 1, activation="relu", name="squeeze")(s)
    e = L.Conv2D(8, 1, activation="sigmoid", name="excite")(s)
    y = L.Multiply(name="scale")([x, e])
    y = L.PReLU(name="prelu")(y)
    f = L.Flatten(name="flat")(L.MaxPooling2D(name="pool")(y))
    h = L.Dense(10, activation="relu", name="fc")(L.Dropout(0.5, name="drop")(f))
    return keras.Model(i, L.Dense(3, name="head")(h), name="se_flatten")


def nested_seq():
    inner = keras.Sequential(
        [L.Conv2D(6, 3, padding="same", name="ic"), L.ReLU(name="ir"), L.Conv2D(4, 1, name="ic2")],
        name="inner",
    )
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(5, 1, name="a")(i)
    t = L.Conv2DTranspose(4, 2, strides=2, name="up")(inner(a))
    return keras.Model(i, L.Conv2D(2, 1, name="head")(t), name="nested")


def sequence():
    return keras.Sequential(
        [
            L.Conv1D(6, 3, input_shape=(10, 2), name="c1"),
            L.GlobalAveragePooling1D(name="gap"),
            L.Dense(8, activation="tanh", name="d1"),
            L.Dense(2, name="head"),
        ],
        name="seq",
    )


def spatial_ops():
    from tf_keras.src.applications.convnext import LayerScale
    from tf_keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    i = keras.Input((8, 8, 3))
    a = L.Conv2D(6, 3, padding="same", name="a")(L.Rescaling(0.5, offset=-1.0, name="rs")(i))
    b = L.Conv2D(6, 1, name="b")(i)
    x = L.Subtract(name="sub")([a, b])
    x = L.Maximum(name="max")([x, L.LeakyReLU(name="lrelu")(b)])
    x = L.UpSampling2D(name="up")(L.ZeroPadding2D(1, name="pad")(x))
    x = L.Cropping2D(2, name="crop")(L.AveragePooling2D(name="avg")(x))
    x = LayerScale(0.5, 6, name="ls")(x)
    x = CustomScaleLayer(0.2, name="scaled_add")([x, L.Conv2D(6, 1, name="branch")(x)])
    x = L.Average(name="mean")([x, L.Conv2D(6, 1, name="c")(x)])
    return keras.Model(i, L.Conv2D(2, 1, name="head")(x), name="spatial_ops")


def conv3d():
    i = keras.Input((4, 4, 4, 2))
    x = L.Conv3D(6, 3, padding="same", name="c3")(i)
    x = L.MaxPooling3D(name="pool")(L.BatchNormalization(name="bn")(x))
    x = L.Conv3DTranspose(4, 2, strides=2, name="up")(x)
    return keras.Model(i, L.Conv3D(2, 1, name="head")(x), name="conv3d")


PATTERNS = [residual, concat, depthwise, se_flatten, nested_seq, sequence, spatial_ops, conv3d]


def _x(model, n=2, seed=0):
    shape = model.inputs[0].shape.as_list()[1:]
    return np.random.RandomState(seed).normal(size=[n] + shape).astype("float32")


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


@pytest.mark.slow
@pytest.mark.parametrize("build", PATTERNS, ids=lambda f: f.__name__)
def test_masked_model_equals_shrunk_model(build):
    m = _randomize(build())
    p = S.plan(m, sparsity=0.5)
    assert p.removed > 0
    masked = S.apply_masks(m, p)
    small = S.shrink(masked, p)
    x = _x(m)
    assert _rel(masked(x).numpy(), small(x).numpy()) <= 1e-5
    assert small.count_params() < m.count_params()
    assert [layer.name for layer in small.layers] == [layer.name for layer in m.layers]


@pytest.mark.slow
@pytest.mark.parametrize("build", PATTERNS, ids=lambda f: f.__name__)
def test_shrink_reads_the_plan_from_a_masked_model(build):
    m = _randomize(build())
    p = S.plan(m, sparsity=0.5, criterion="fpgm")
    masked = S.apply_masks(m, p)
    derived = S.shrink(masked)
    x = _x(m)
    assert _rel(masked(x).numpy(), derived(x).numpy()) <= 1e-5
    assert derived.count_params() == S.shrink(masked, p).count_params()


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**16), which=st.sampled_from(PATTERNS))
def test_random_channel_choices_keep_parity(seed, which):
    m = _randomize(which(), seed)
    rng = np.random.RandomState(seed)
    g = graph.build(m)
    keep = {
        gr.name: tuple(
            sorted(rng.choice(gr.channels, rng.randint(1, gr.channels + 1), replace=False).tolist())
        )
        for gr in g.prunable()
    }
    p = S.Plan(keep, {gr.name: gr.channels for gr in g.prunable()})
    masked, small = S.apply_masks(m, p), S.shrink(m, p)
    x = _x(m, seed=seed % 7)
    assert _rel(masked(x).numpy(), small(x).numpy()) <= 1e-5


def test_plan_round_trips_through_a_dict():
    p = S.plan(_randomize(concat()), sparsity=0.5)
    assert S.Plan.from_dict(p.to_dict()) == p
    assert "keep 3/6" in str(p)


@pytest.mark.slow
def test_model_passed_in_is_unchanged():
    m = _randomize(residual())
    before = [w.copy() for w in m.get_weights()]
    config = m.get_config()
    p = S.plan(m, sparsity=0.5)
    S.shrink(S.apply_masks(m, p))
    S.shrink(m, p)
    assert m.get_config() == config
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_output_layers_are_never_shrunk():
    m = _randomize(se_flatten())
    p = S.plan(m, sparsity=0.9)
    assert "head" not in p.keep
    small = S.shrink(m, p)
    assert small.get_layer("head").units == 3
    assert small.output_shape == m.output_shape


def test_round_to_and_min_channels_set_kept_counts():
    i = keras.Input((4,))
    m = keras.Model(i, L.Dense(2, name="head")(L.Dense(20, name="h")(L.Dense(40, name="g")(i))))
    p = S.plan(m, sparsity=0.5, round_to=8)
    assert len(p.keep["g"]) == 24 and len(p.keep["h"]) == 16
    p = S.plan(m, sparsity=0.95, min_channels=6)
    assert len(p.keep["g"]) == 6 and len(p.keep["h"]) == 6
    assert S.plan(m, sparsity=0.0).removed == 0


def test_round_to_larger_than_a_group_is_refused():
    i = keras.Input((4,))
    m = keras.Model(i, L.Dense(2, name="head")(L.Dense(6, name="h")(i)))
    with pytest.raises(errors.ConfigError, match=r"round_to=8 .*\['h'\].*exclude"):
        S.plan(m, sparsity=0.5, round_to=8)


def test_global_scope_prunes_weak_groups_more():
    i = keras.Input((4,))
    h = L.Dense(16, name="h")(i)
    g = L.Dense(16, name="g")(i)
    m = keras.Model(i, L.Dense(2, name="head")(L.Concatenate(name="cat")([h, g])))
    kh = m.get_layer("h").kernel.numpy()
    scale = np.where(np.arange(16) < 4, 1.0, 0.01).astype("float32")
    m.get_layer("h").kernel.assign(kh * scale)
    p = S.plan(m, sparsity=0.5, scope="global")
    assert len(p.keep["h"]) < len(p.keep["g"])
    assert p.removed == 16


@pytest.mark.slow
def test_every_criterion_and_reduction_gives_a_plan():
    m = _randomize(residual())
    for criterion in ("l1", "l2", "fpgm", "bn_scale", "magnitude", "random"):
        for reduction in ("sum", "mean", "max"):
            p = S.plan(m, sparsity=0.5, criterion=criterion, reduction=reduction)
            assert len(p.keep["a"]) == 4
    p = S.plan(m, sparsity=0.5, score_from="consumers")
    assert len(p.keep["a"]) == 4


@pytest.mark.slow
@pytest.mark.parametrize("criterion", ["taylor", "apoz", "mean_activation", "obd"])
def test_data_criteria_plan_with_data_and_refuse_without(criterion):
    m = _randomize(residual())
    x = _x(m)
    y = np.zeros((len(x), *m.output_shape[1:]), "float32")
    with pytest.raises(errors.ConfigError, match=r"pass data=.*one_shot"):
        S.plan(m, sparsity=0.5, criterion=criterion)
    p = S.plan(m, sparsity=0.5, criterion=criterion, data=(x, y), loss="mse")
    assert len(p.keep["a"]) == 4
    masked = S.apply_masks(m, p)
    assert _rel(masked(x).numpy(), S.shrink(masked)(x).numpy()) <= 1e-5


def test_bn_scale_keeps_the_largest_gammas():
    m = residual()
    gamma = np.array([5, 0.1, 4, 0.2, 3, 0.3, 2, 0.4], "float32")
    m.get_layer("a_bn").gamma.assign(gamma)
    p = S.plan(m, sparsity=0.5, criterion="bn_scale")
    assert p.keep["a"] == (0, 2, 4, 6)
    with pytest.warns(UserWarning, match="bn_scale.*l1 norm"):
        S.plan(sequence(), sparsity=0.5, criterion="bn_scale")


def test_bad_arguments_are_refused_before_work():
    m = residual()
    with pytest.raises(errors.ConfigError, match="sparsity"):
        S.plan(m, sparsity=1.0)
    with pytest.raises(errors.ConfigError, match="Unknown criterion 'l3'.*'l2'"):
        S.plan(m, sparsity=0.5, criterion="l3")
    with pytest.raises(errors.ConfigError, match="reduction"):
        S.plan(m, sparsity=0.5, reduction="median")
    with pytest.raises(errors.ConfigError, match="min_channels"):
        S.plan(m, sparsity=0.5, min_channels=0)
    with pytest.raises(errors.ConfigError, match="Unknown option of plan 'granularty'"):
        S.plan(m, sparsity=0.5, granularty="channel")
    with pytest.raises(errors.ConfigError, match="'obs'.*supports granularity"):
        S.plan(m, sparsity=0.5, criterion="obs")


def test_bad_plans_are_refused():
    m = residual()
    with pytest.raises(errors.ConfigError, match="out of range"):
        S.shrink(m, S.Plan({"a": (0, 99)}, {"a": 8}))
    with pytest.raises(errors.ConfigError, match="keeps no channel"):
        S.shrink(m, S.Plan({"a": ()}, {"a": 8}))
    with pytest.raises(errors.ConfigError, match="cannot lose channels"):
        S.apply_masks(m, S.Plan({"head": (0,)}, {"head": 3}))
    with pytest.raises(errors.ConfigError, match="Unknown group"):
        S.shrink(m, S.Plan({"nope": (0,)}, {"nope": 8}))


def test_unstructured_zeros_are_refused_by_shrink():
    m = _randomize(residual())
    for layer in m.layers:
        if isinstance(layer, L.Conv2D):
            k = layer.kernel.numpy()
            k[..., ::2, :] = 0.0
            layer.kernel.assign(k)
    with pytest.raises(errors.ConfigError, match="only structured"):
        S.shrink(m)


def test_per_kernel_filter_masks_are_refused_naming_the_group_and_the_fix():
    m = _randomize(residual())
    for name in ("a", "b"):  # whole filters zero, bias and BatchNormalization untouched
        k = m.get_layer(name).kernel.numpy()
        k[..., :4] = 0.0
        m.get_layer(name).kernel.assign(k)
    with pytest.raises(errors.ConfigError, match=r"not consistent.*'a'.*granularity='channel'"):
        S.shrink(m)


@pytest.mark.slow
def test_shrink_reports_what_it_removed_and_warns_when_zeros_stay():
    m = _randomize(residual())
    p = S.plan(m, sparsity=0.5)
    small = S.shrink(S.apply_masks(m, p))
    rep = small.shrink_report
    assert rep.plan == p and rep.removed["a"] == 4
    assert rep.macs[1] < rep.macs[0] and rep.params[1] < rep.params[0]
    assert "channels removed" in str(rep)
    i = keras.Input((4,))
    m = keras.Model(i, L.Dense(2, name="head")(L.Dense(256, name="g")(L.Dense(64, name="h")(i))))
    masked = S.apply_masks(_randomize(m), S.Plan({"h": tuple(range(1, 64))}, {"h": 64}))
    k = masked.get_layer("g").kernel.numpy()
    k[::2] = 0.0  # many unstructured zeros that no channel explains
    masked.get_layer("g").kernel.assign(k)
    with pytest.warns(UserWarning, match="less than 1%.*granularity='channel'"):
        S.shrink(masked)


def test_macs_fall_as_computed_by_hand():
    m = keras.Sequential(
        [
            L.Conv2D(8, 3, input_shape=(6, 6, 2), name="c1"),
            L.Conv2D(4, 1, name="c2"),
            L.Flatten(name="f"),
            L.Dense(5, name="head"),
        ]
    )
    assert S.count_macs(m) == 16 * 9 * 2 * 8 + 16 * 8 * 4 + 64 * 5
    small = S.shrink(m, S.Plan({"c1": (0, 1, 2, 3), "c2": (1, 3)}, {"c1": 8, "c2": 4}))
    assert S.count_macs(small) == 16 * 9 * 2 * 4 + 16 * 4 * 2 + 32 * 5
    assert small.count_params() == (9 * 2 * 4 + 4) + (4 * 2 + 2) + (32 * 5 + 5)


@pytest.mark.slow
def test_shrunk_model_saves_loads_and_converts_to_tflite(tmp_path):
    import tensorflow as tf

    m = _randomize(se_flatten())
    small = S.shrink(S.apply_masks(m, S.plan(m, sparsity=0.5)))
    path = str(tmp_path / "small.keras")
    small.save(path)
    again = keras.models.load_model(path)
    x = _x(m)
    np.testing.assert_allclose(again(x).numpy(), small(x).numpy(), rtol=1e-6)
    conv = tf.lite.TFLiteConverter.from_keras_model(small)
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=conv.convert())
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], x.shape)
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    assert _rel(small(x).numpy(), interp.get_tensor(out["index"])) < 1e-4


def _stem_concat():
    i = keras.Input((6, 6, 3))
    stem = L.Conv2D(4, 3, padding="same", name="stem")(i)
    branch = L.Conv2D(6, 1, name="branch")(stem)
    x = L.Concatenate(name="cat")([stem, branch])
    x = L.Add(name="add")([x, L.Conv2D(10, 1, name="res")(x)])
    return keras.Model(i, L.Conv2D(2, 3, padding="same", name="out")(x), name="stem_concat")


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_concatenation_keeps_a_channel_of_every_producer(scope):
    # 'stem' (channels 0..3) and 'branch' (4..9) share one group through Concatenate/Add;
    # strong stem filters once took all kept channels and shrink built branch with 0 filters
    m = _randomize(_stem_concat())
    w = m.get_layer("stem").get_weights()
    m.get_layer("stem").set_weights([w[0] * 100, w[1]])
    p = S.plan(m, sparsity=0.75, criterion="l2", scope=scope)
    kept = np.array(p.keep["stem"])
    assert (kept < 4).any() and (kept >= 4).any()
    if scope == "layer":
        assert len(kept) == masks.kept_count(10, 0.75)  # the same count as without the rule
    small = S.shrink(m, p)
    assert small.get_layer("branch").filters >= 1
    x = _x(m)
    assert _rel(small(x), S.apply_masks(m, p)(x)) < 1e-5

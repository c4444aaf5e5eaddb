"""Every criterion: config round trip, score shape and meaning, errors, save/load."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria, masks
from tfprune.masking import channels

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
EVERY_STEP = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
PER_CHANNEL = {"fpgm", "apoz", "mean_activation", "hrank"}


def _cnn(bn=False):
    inp = keras.Input((6, 6, 2))
    x = L.Conv2D(4, 3, activation=None if bn else "relu", name="conv")(inp)
    if bn:
        x = L.BatchNormalization(name="bn")(x)
        x = L.ReLU()(x)
    x = L.Flatten()(x)
    x = L.Dense(8, activation="relu", name="fc")(x)
    return keras.Model(inp, L.Dense(3, name="head")(x))


def _data(n=32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6, 6, 2)).astype("float32"), rng.integers(0, 3, n)


def _exclude(name):
    return None


def _compile(model):
    """compile, and build the optimizer now: fit then traces its step once, not twice (a first
    trace that creates the optimizer's slots is thrown away and traced again)."""
    model.compile("adam", LOSS)
    model.optimizer.build(model.trainable_variables)


def _check_target(model, granularity):
    """Weight granularity: half of the weights; channel: half of every group's channels."""
    ws = tfprune.masking.pruner.wrapped_layers(model)
    if granularity != "channel":
        assert tfprune.masking.pruner.sparsity_report(model)["sparsity"] == pytest.approx(
            0.5, abs=0.02)
        return
    for name, keep in channels.keep_state(ws).items():
        assert keep.sum() == int(masks.kept_count(len(keep), 0.5)), name


@pytest.mark.parametrize("name", criteria.available())
def test_criterion_config_round_trips(name):
    crit = criteria.get(name)
    again = type(crit).from_config(crit.get_config())
    assert again.get_config() == crit.get_config()
    assert criteria.get(criteria.serialize(crit)) == crit


# "sensitivity" is measured on calibration data when masks are chosen: prune() refuses it
# (tests/core/criteria/test_sensitivity_criterion.py covers one_shot/plan)
_FITTED = {}


def _fitted(name):
    """prune(criterion=name) fit one epoch at a constant 0.5, built once per module.

    The after-fit and the save/load tests only read this model (the save/load test fits the
    copy it loads), so one fit serves both.
    """
    if name not in _FITTED:
        keras.utils.set_random_seed(1234)
        x, y = _data()
        model = tfprune.prune(_cnn(bn=name == "bn_scale"), schedule=EVERY_STEP, criterion=name,
                              exclude=_exclude(name))
        _compile(model)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                  callbacks=[tfprune.PruningCallback()])
        _FITTED[name] = model
    return _FITTED[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(criteria.available()) - {"abs_cubed", "sensitivity"}))
def test_criterion_scores_have_documented_shape_after_fit(name):
    model = _fitted(name)
    for w in tfprune.masking.pruner.wrapped_layers(model):
        if not w.scored:
            continue
        scores = w.scores(0)
        kernel = w.pruning_vars[0][0]
        if name in PER_CHANNEL:
            assert scores.shape.rank == 1
        else:
            assert scores.shape.as_list() == kernel.shape.as_list()
        assert np.all(np.isfinite(scores.numpy()))
    _check_target(model, criteria.get(name).granularities[0])


def _taylor_stats_by_hand(model, x, y, steps):
    """Mean over steps of |g*w|, g*g, g, -w*g for the first wrapper, with a plain tape."""
    w0 = tfprune.masking.pruner.wrapped_layers(model)[0]
    kernel = w0.pruning_vars[0][0]
    acc = {k: np.zeros(kernel.shape) for k in ("abs", "sq", "g", "mv")}
    for i in range(steps):
        xb, yb = x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]
        with tf.GradientTape() as tape:
            loss = LOSS(yb, model(xb, training=False))
        g = tape.gradient(loss, kernel).numpy()
        w = kernel.numpy()
        acc["abs"] += np.abs(g * w) / steps
        acc["sq"] += g * g / steps
        acc["g"] += g / steps
        acc["mv"] += -w * g / steps
    return acc


@pytest.mark.slow
def test_gradient_statistics_match_a_plain_gradient_tape():
    x, y = _data(48)
    m = _cnn()
    ref = tfprune.prune(m, sparsity=0.5, criterion="magnitude")
    by_hand = _taylor_stats_by_hand(ref, x, y, 3)
    for name, key, formula in [
        ("taylor", "abs", lambda w, a: a),
        ("obd", "sq", lambda w, a: 0.5 * w * w * a),
        ("snip", "g", lambda w, a: np.abs(w * a)),
        ("movement", "mv", lambda w, a: a),
    ]:
        batches = [(x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]) for i in range(3)]
        p = tfprune.one_shot(m, 0.5, criterion=name, data=batches, loss=LOSS)
        w0 = tfprune.masking.pruner.wrapped_layers(p)[0]
        w0.pruning_vars[0][1].assign(tf.ones_like(w0.pruning_vars[0][1]))
        dense_kernel = m.get_layer("conv").kernel.numpy()
        got = w0.criterion.score(tf.constant(dense_kernel), w0.statistics(0)).numpy()
        np.testing.assert_allclose(got, formula(dense_kernel, by_hand[key]), rtol=1e-4,
                                   atol=1e-7, err_msg=name)


def test_obd_scores_half_w_squared_times_mean_squared_gradient():
    w = tf.constant([[1.0, -2.0]])
    g2 = tf.constant([[0.5, 0.25]])
    np.testing.assert_allclose(criteria.OBD().score(w, {"grad_sq": g2}).numpy(), [[0.25, 0.5]])


def test_apoz_counts_zeros_after_relu_per_channel():
    x, y = _data(16)
    m = _cnn()
    p = tfprune.one_shot(m, 0.5, criterion="apoz", data=x, exclude=["fc"])
    act = keras.Model(m.input, m.get_layer("conv").output)(x).numpy()
    zero_frac = (act <= 0).reshape(-1, 4).mean(axis=0)
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    np.testing.assert_allclose(w.statistics(0)["act_zero"].numpy(), zero_frac, rtol=1e-6)
    kept = w.pruning_vars[0][1].numpy().reshape(-1, 4).max(axis=0)
    assert set(np.argsort(zero_frac, kind="stable")[:2]) == set(np.flatnonzero(kept))
    assert not w.pruning_vars[1][1].numpy()[kept == 0].any()  # the bias goes with them


def test_bn_scale_removes_the_channels_with_smallest_gamma():
    m = _cnn(bn=True)
    m.get_layer("bn").gamma.assign([0.1, 2.0, -3.0, 0.2])
    p = tfprune.one_shot(m, 0.5, criterion="bn_scale", exclude=["fc"])
    kept = tfprune.masking.pruner.wrapped_layers(p)[0].pruning_vars[0][1].numpy().reshape(-1, 4)
    np.testing.assert_array_equal(kept.max(axis=0), [0, 1, 1, 0])
    bn = p.get_layer("prune_bn")
    np.testing.assert_array_equal(bn.pruning_vars[0][1].numpy(), [0, 1, 1, 0])  # gamma too


def test_l1_and_fpgm_match_hand_formulas():
    k = tf.constant([[1.0, -2.0, 0.0], [3.0, 0.0, 0.0]])
    per_channel = criteria.grouping.slice_scores(criteria.L1().score(k, {}), axis=-1)
    np.testing.assert_allclose(per_channel.numpy(), [4.0, 2.0, 0.0])
    d01, d02, d12 = np.sqrt(9 + 9), np.sqrt(1 + 9), 2.0
    np.testing.assert_allclose(criteria.FPGM().score(k, {}).numpy(),
                               [d01 + d02, d01 + d12, d02 + d12], rtol=1e-4)


def test_channel_criteria_use_axis_minus_two_for_conv_transpose():
    k = tf.reshape(tf.range(12, dtype=tf.float32), [1, 1, 3, 4])  # [h, w, out, in]
    got = criteria.grouping.slice_scores(criteria.L1().score(k, {}), axis=-2).numpy()
    np.testing.assert_allclose(got, np.abs(k.numpy()).sum(axis=(0, 1, 3)))


def test_obs_reconstructs_layer_output_better_than_magnitude():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 12)).astype("float32")
    x[:, 1] = x[:, 0] + 0.01 * x[:, 1]  # correlated inputs: OBS can compensate
    m = keras.Sequential([keras.Input((12,)), L.Dense(6, use_bias=False, name="d")])
    ref = m(x).numpy()
    errs = {}
    for name in ("magnitude", "obs"):
        p = tfprune.strip(tfprune.one_shot(m, 0.6, criterion=name,
                                           data=x if name == "obs" else None))
        errs[name] = float(np.mean((p(x).numpy() - ref) ** 2))
        assert np.mean(p.layers[0].kernel.numpy() == 0) == pytest.approx(0.6, abs=0.02)
    assert errs["obs"] < 0.9 * errs["magnitude"]


def test_obs_handles_conv2d_through_im2col():
    x, _ = _data(32)
    m = _cnn()
    p = tfprune.one_shot(m, 0.5, criterion="obs", data=x, exclude=["fc", "head"])
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    assert w.statistics(0)["hessian"].shape == (18, 18)
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.01)


def test_unknown_criterion_name_is_refused_with_suggestion():
    with pytest.raises(errors.ConfigError, match="Did you mean 'taylor'"):
        tfprune.prune(_cnn(), sparsity=0.5, criterion="taylr")


def test_custom_criterion_with_wrong_shape_names_both_shapes():
    class Bad(criteria.Criterion):
        name = "bad"

        def score(self, weight, stats):
            return tf.ones([3])

    with pytest.raises(errors.ConfigError, match=r"bad.*shape \[3\].*expected \[3, 3, 2, 4\]"):
        tfprune.one_shot(_cnn(), 0.5, criterion=Bad())


def test_bn_scale_without_batchnorm_falls_back_to_l1_with_a_warning():
    with pytest.warns(UserWarning, match="bn_scale.*l1 norm"):
        tfprune.one_shot(_cnn(), 0.5, criterion="bn_scale")


@pytest.mark.parametrize("name", ["apoz", "fpgm", "bn_scale", "hrank"])
def test_channel_only_criterion_at_weight_granularity_names_what_it_supports(name):
    with pytest.raises(errors.ConfigError, match=rf"{name!r}.*supports granularity in \['channel'\]"):
        tfprune.prune(_cnn(), sparsity=0.5, criterion=name, granularity="weight")
    with pytest.raises(errors.ConfigError, match="'obs'.*supports granularity"):
        tfprune.prune(_cnn(), sparsity=0.5, criterion="obs", granularity="channel")


def test_data_criterion_without_data_is_refused_before_work():
    with pytest.raises(errors.ConfigError, match="pass data="):
        tfprune.one_shot(_cnn(), 0.5, criterion="taylor")
    with pytest.raises(errors.ConfigError, match="loss="):
        tfprune.one_shot(_cnn(), 0.5, criterion="taylor", data=_data())


def test_gradient_criterion_without_labels_is_refused():
    with pytest.raises(errors.ConfigError, match=r"data=\(x, y\)"):
        tfprune.one_shot(_cnn(), 0.5, criterion="snip", data=_data()[0], loss=LOSS)


def test_obs_config_is_validated():
    with pytest.raises(errors.ConfigError, match="damp"):
        criteria.OBS(damp=-1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["taylor", "obd", "snip", "movement", "apoz",
                                  "mean_activation", "hrank", "l1", "l2", "fpgm", "bn_scale",
                                  "obs", "random"])
def test_criterion_survives_keras_save_and_load_mid_pruning(name, tmp_path):
    x, y = _data()
    model = _fitted(name)
    # at the (constant) target already: 0.5 of the weights, or of each group's channels
    # (then the report, a fraction of every masked weight, counts consumers' slices too)
    reached = tfprune.masking.pruner.sparsity_report(model)["sparsity"]
    assert reached >= 0.49
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.models.load_model(path)
    w1, w2 = tfprune.masking.pruner.wrapped_layers(model)[0], tfprune.masking.pruner.wrapped_layers(again)[0]
    assert w2.criterion == w1.criterion
    for a, b in zip(w1.stat_variables(), w2.stat_variables(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    np.testing.assert_allclose(w1.scores(0).numpy(), w2.scores(0).numpy(), rtol=1e-5)
    _compile(again)
    again.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert tfprune.masking.pruner.sparsity_report(again)["sparsity"] == pytest.approx(reached, abs=0.02)

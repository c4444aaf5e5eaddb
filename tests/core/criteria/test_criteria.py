"""Every criterion: config round trip, score shape and meaning, errors, save/load.

The after-fit and save/load checks of the data criteria are here, the others' in
test_criteria_fit.py (one fit per criterion: half the fits per file).
"""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria

from ._fitted import DATA_FIT, FIT, LOSS, SAVED, assert_save_and_load, assert_scores_after_fit
from ._fitted import cnn as _cnn
from ._fitted import data as _data

L = keras.layers


@pytest.mark.parametrize("name", criteria.available())
def test_criterion_config_round_trips(name):
    crit = criteria.get(name)
    again = type(crit).from_config(crit.get_config())
    assert again.get_config() == crit.get_config()
    assert criteria.get(criteria.serialize(crit)) == crit


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
        p = tfprune.one_shot(m, 0.5, criterion=name, data=tfprune.Calibration(batches, loss=LOSS))
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


@pytest.mark.slow
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
        tfprune.one_shot(_cnn(), 0.5, criterion="snip", data=tfprune.Calibration(_data()[0], loss=LOSS))


def test_obs_config_is_validated():
    with pytest.raises(errors.ConfigError, match="damp"):
        criteria.OBS(damp=-1)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FIT if n in DATA_FIT])
def test_criterion_scores_have_documented_shape_after_fit(name):
    assert_scores_after_fit(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SAVED if n in DATA_FIT])
def test_criterion_survives_keras_save_and_load_mid_pruning(name, tmp_path):
    assert_save_and_load(name, str(tmp_path / "m.keras"))

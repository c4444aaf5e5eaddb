"""Bad input to prune / one_shot / plan / gather: a tfprune.errors class naming the
problem and the fix, before any work (core-B's validators in tfprune.errors)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import errors, structured
from tfprune.compat import keras
from tfprune.masking import pruner

L = keras.layers


def dense():
    return keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu", name="fc1"),
                             L.Dense(3, name="fc2")], name="tiny")


X = np.random.RandomState(0).uniform(size=(6, 4)).astype("float32")
Y = np.array([0, 1, 2, 0, 1, 2])
SPARSE = "sparse_categorical_crossentropy"


def test_exclude_string_is_one_layer_name():
    p = tfprune.prune(dense(), sparsity=0.5, exclude="fc1")
    assert [type(x).__name__ for x in p.layers] == ["Dense", "PruningWrapper"]
    with pytest.raises(errors.ConfigError, match=r"`exclude` names layer 'fc'.*Did you mean"):
        tfprune.prune(dense(), sparsity=0.5, exclude="fc")


def test_plan_exclude_string_is_one_layer_name():
    assert "fc1" not in structured.plan(dense(), sparsity=0.5, exclude="fc1").keep
    with pytest.raises(errors.ConfigError, match=r"`exclude` names layer 'fc3'"):
        structured.plan(dense(), sparsity=0.5, exclude=["fc3"])


def test_scope_dict_unknown_layer_gets_closest_name():
    with pytest.raises(errors.ConfigError, match=r"`scope` names layer 'fc_1'.*Did you mean 'fc1'"):
        tfprune.prune(dense(), scope={"fc_1": 0.5})


def test_bad_n_m_is_blamed_on_n_m_not_sparsity():  # the deprecated keyword (until 0.4)
    with pytest.raises(errors.ConfigError, match=r"`n_m` = \(4, 2\).*0 < N < M"):
        tfprune.prune(dense(), granularity="n:m", n_m=(4, 2))
    with pytest.raises(errors.ConfigError, match=r"`n_m`"):
        tfprune.one_shot(dense(), None, granularity="n:m", n_m=(2, "4"))


def test_bad_n_m_spelling_is_blamed_on_granularity_not_sparsity():
    with pytest.raises(errors.ConfigError, match=r"`granularity` = \(4, 2\).*0 < N < M"):
        tfprune.prune(dense(), granularity="4:2")
    with pytest.raises(errors.ConfigError, match=r"'2:x'.*Valid forms.*'N:M'"):
        tfprune.one_shot(dense(), None, granularity="2:x")


def test_already_pruned_model_is_refused():
    p = tfprune.prune(dense(), sparsity=0.5)
    with pytest.raises(errors.AlreadyPrunedError, match="already pruned.*tfprune.strip"):
        tfprune.prune(p, sparsity=0.5)
    with pytest.raises(errors.AlreadyPrunedError, match="already pruned"):
        tfprune.one_shot(p, 0.5)
    with pytest.raises(errors.AlreadyPrunedError, match="already pruned"):
        structured.plan(p, sparsity=0.5)


def test_one_shot_refuses_unscaled_uint8_data():
    x = (X * 255).astype("uint8")
    with pytest.raises(errors.DataError, match=r"uint8 with values up to .*/ 255"):
        tfprune.one_shot(dense(), 0.5, criterion="apoz", data=x)


def test_one_shot_refuses_wrong_sample_shape_and_strings():
    with pytest.raises(errors.DataError, match=r"shape \(5,\) but model 'tiny' expects \(4,\)"):
        tfprune.one_shot(dense(), 0.5, criterion="apoz", data=np.zeros((6, 5), "float32"))
    with pytest.raises(errors.DataError, match="strings"):
        tfprune.one_shot(dense(), 0.5, criterion="apoz", data=np.full((6, 4), "a"))
    with pytest.raises(errors.DataError, match="shape"):  # a list of (x, y) batches
        tfprune.one_shot(dense(), 0.5, criterion="apoz", data=[(np.zeros((2, 3)), Y[:2])])


def test_one_shot_refuses_nan_data():
    x = X.copy()
    x[2, 1] = np.inf
    with pytest.raises(errors.DataError, match=r"NaN/inf.*\(2, 1\)"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((x, Y), loss=SPARSE))


def test_plan_checks_data_before_work():
    with pytest.raises(errors.DataError, match="expects"):
        structured.plan(dense(), sparsity=0.5, criterion="apoz", data=np.zeros((6, 2)))


def test_gather_checks_data_before_work():
    p = tfprune.prune(dense(), sparsity=0.5, criterion="apoz")
    with pytest.raises(errors.DataError, match="expects"):
        pruner.gather(p, np.zeros((6, 7), "float32"))
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((6, 7), "float32")).batch(3)
    with pytest.raises(errors.DataError, match="expects"):
        pruner.gather(p, ds)


def test_token_ids_for_embedding_model_are_not_called_unscaled():
    m = keras.Sequential([keras.Input((5,)), L.Embedding(50, 4), L.Flatten(), L.Dense(2)])
    pruner.check_data(m, np.full((3, 5), 40, "int32"))  # passes
    with pytest.raises(errors.DataError, match="expects"):
        pruner.check_data(m, np.full((3, 6), 40, "int32"))


def test_gradient_criterion_labels_out_of_range():
    y = Y.copy()
    y[0] = 3
    with pytest.raises(errors.DataError, match=r"class 3.*3 outputs"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((X, y), loss=SPARSE))


def test_gradient_criterion_one_hot_labels_with_sparse_loss():
    with pytest.raises(errors.DataError, match="one-hot.*argmax"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((X, np.eye(3)[Y]), loss=SPARSE))
    with pytest.raises(errors.DataError, match="class ids.*to_categorical"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((X, Y), loss="categorical_crossentropy"))


def test_gradient_criterion_labels_wrong_length():
    with pytest.raises(errors.DataError, match="length 4 but the data has 6"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((X, Y[:4]), loss=SPARSE))
    with pytest.raises(errors.DataError, match="length 4"):  # any loss
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((X, Y[:4]), loss="mse"))


def test_loss_typo_gets_did_you_mean():
    with pytest.raises(errors.ConfigError, match="Did you mean 'sparse_categorical_crossentropy'"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((X, Y), loss="sparse_categorical_crosentropy"))


@pytest.mark.parametrize("power", [float("nan"), float("inf"), -1.0])
def test_prune_refuses_a_tfmot_schedule_with_a_bad_power(power):
    """TF-MOT's PolynomialDecay(power=nan) was accepted; fit then died with an
    InvalidArgumentError inside its graph trace (issue 24, fuzz)."""
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule

    schedule = pruning_schedule.PolynomialDecay(0.0, 0.5, 0, 8, power=power, frequency=1)
    with pytest.raises(errors.ConfigError, match="power"):
        tfprune.prune(dense(), schedule=schedule)


def test_prune_refuses_a_schedule_asking_for_a_sparsity_out_of_range():
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule

    class Wild(pruning_schedule.PruningSchedule):
        def __call__(self, step):
            return True, tf.constant(1.5)

        def get_config(self):
            return {}

    with pytest.raises(errors.ConfigError, match="sparsity 1.5 at step 0"):
        tfprune.prune(dense(), schedule=Wild())
    assert tfprune.prune(dense(), schedule=tfprune.schedules.AGP(0.5, end_step=8, power=1))


def test_one_shot_mapping_scope_with_a_tiny_sparsity_reaches_the_mapping():
    """sparsity=1e-100 with scope={...}: the scale targets/final was applied to a float32
    schedule value that underflowed to 0, so nothing was pruned (issue 24, fuzz)."""
    p = tfprune.one_shot(dense(), 1e-100, scope={"fc1": 0.5, "fc2": 0.25})
    kept = {w.layer.name: float(w.pruning_vars[0][1].numpy().mean())
            for w in pruner.wrapped_layers(p)}
    assert kept == pytest.approx({"fc1": 0.5, "fc2": 0.75}, abs=1 / 24 + 1e-6)

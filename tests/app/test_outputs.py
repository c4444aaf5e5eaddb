"""tfprune/app/outputs.py: per-output labels of a .npz file (y_<output>, or y_train_/y_test_),
their check against the model's outputs naming what is missing and the arrays to write."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.app import outputs
from tfprune.compat import keras


def _two_outputs():
    i = keras.Input((2,))
    return keras.Model(i, [keras.layers.Dense(1, name="a")(i), keras.layers.Dense(1, name="b")(i)],
                       name="twin")


def test_split_arrays_splits_x_and_every_output_alike():
    x = np.arange(10, dtype="float32")[:, None]
    arrays = {"x": x, "y_a": np.arange(10) * 10, "y_b": np.arange(10) * 100}
    (xtr, ytr), (xte, yte) = outputs.split_arrays("d.npz", arrays, 0.3, seed=1)
    assert len(xtr) == 7 and len(xte) == 3 and sorted(ytr) == ["a", "b"]
    for xs, ys in ((xtr, ytr), (xte, yte)):
        np.testing.assert_array_equal(ys["a"], xs[:, 0] * 10)
        np.testing.assert_array_equal(ys["b"], xs[:, 0] * 100)
    assert sorted(np.concatenate([xtr, xte])[:, 0].tolist()) == list(range(10))


def test_split_arrays_keeps_a_given_train_test_split():
    arrays = {"x_train": np.zeros((4, 2)), "x_test": np.zeros((2, 2)),
              "y_train_a": np.zeros(4), "y_test_a": np.ones(2)}
    (xtr, ytr), (xte, yte) = outputs.split_arrays("d.npz", arrays, 0.5, 0)
    assert len(xtr) == 4 and yte["a"].tolist() == [1.0, 1.0]


def test_split_arrays_is_none_without_per_output_labels():
    assert outputs.split_arrays("d.npz", {"x": np.zeros(4), "y": np.zeros(4)}, 0.5, 0) is None
    assert outputs.split_arrays("d.npz", {"x_train": np.zeros(2), "x_test": np.zeros(2),
                                          "y_train": np.zeros(2)}, 0.5, 0) is None


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 2)), "y_a": np.zeros(3)}, r"y_a has \(3,\) rows but x has 4"),
    ({"x": np.zeros((4, 2)), "y_a": np.array(["u"] * 4)}, r"y_a has dtype <U1; labels are"),
    ({"x": np.zeros((1, 2)), "y_a": np.zeros(1)}, r"x has 1 sample\(s\)"),
    ({"x_train": np.zeros(2), "x_test": np.zeros(2), "y_train_a": np.zeros(2),
      "y_test_b": np.zeros(2)}, r"per-output labels differ between train \(\['a'\]\) and test \(\['b'\]\)"),
])
def test_bad_label_arrays_are_refused_naming_the_file_and_array(arrays, message):
    with pytest.raises(errors.ConfigError, match=r"data.source 'd.npz': " + message):
        outputs.split_arrays("d.npz", arrays, 0.5, 0)


def test_check_labels_names_missing_and_unknown_outputs_and_the_arrays_to_write():
    m = _two_outputs()
    assert outputs.output_names(m) == ["a", "b"]
    outputs.check_labels(m, {"a": np.zeros(2), "b": np.zeros(2)})
    with pytest.raises(errors.ConfigError, match=r"\(missing \['b'\]\) \(no such output: \['c'\]\)"
                       r"\. Name the .npz arrays y_<output>"):
        outputs.check_labels(m, {"a": np.zeros(2), "c": np.zeros(2)})
    with pytest.raises(errors.ConfigError, match=r"model 'twin' has 2 outputs.*y_a, y_b \(with "
                       r"x\), or y_train_a/y_test_a, y_train_b/y_test_b"):
        outputs.check_labels(m, np.zeros(2), source="data")


def test_one_output_takes_one_label_array():
    outputs.check_labels(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), np.zeros(3))


def test_head_takes_the_first_labels_of_arrays_and_dicts():
    assert outputs.head(np.arange(5), 2).tolist() == [0, 1]
    assert {k: v.tolist() for k, v in outputs.head({"a": np.arange(5)}, 3).items()} == {
        "a": [0, 1, 2]}


def test_per_output_measures_are_none_for_one_output_or_no_losses():
    m = _two_outputs()
    assert outputs.per_output_measures(m, np.zeros((2, 2)), np.zeros(2)) is None
    assert outputs.per_output_measures(m, np.zeros((2, 2)), {"a": np.zeros(2)}) is None

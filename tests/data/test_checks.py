"""tfprune.data.checks: one set of checks on every batch read (tests moved from
tests/test_data.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import data, errors

from .conftest import SPARSE, Counting, X, Y


def test_nan_in_second_batch_of_a_generator_is_refused(dense):
    gen = Counting(nan_at=2)
    with pytest.raises(errors.DataError, match=r"batch 1.*NaN/inf"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration(gen, loss=SPARSE, max_batches=3))
    assert gen.pulled == 2  # refused when read, before the batch is used


def test_labels_out_of_range_in_one_shot_and_sensitivity(dense):
    y = Y.copy()
    y[3] = 7
    with pytest.raises(errors.DataError, match=r"class 7.*3 outputs"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((X, y), loss=SPARSE))
    m = dense()
    m.compile(loss=SPARSE)
    with pytest.raises(errors.DataError, match=r"class 7.*3 outputs"):
        tfprune.sensitivity(m, (X, y), levels=(0.5,), progress=False)
    with pytest.raises(errors.DataError, match=r"class 7.*3 outputs"):
        tfprune.sensitivity(m, (X, y), levels=(0.5,), metric="accuracy", progress=False)


def test_out_of_range_labels_in_a_later_generator_batch_are_refused(dense):
    def gen():
        yield X[:4], Y[:4]
        yield X[4:8], np.array([0, 1, 9, 2])

    with pytest.raises(errors.DataError, match=r"batch 1.*class 9"):
        list(data.batches(gen(), model=dense(), loss=SPARSE))


def test_fractional_labels_with_a_sparse_loss_are_refused(dense):
    with pytest.raises(errors.DataError, match="non-integer.*class ids"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration((X, Y * 0.5), loss=SPARSE))
    # whole-number float labels are class ids
    data.check(dense(), (X, Y.astype("float32")), loss=SPARSE)


def test_complex_and_string_inputs_are_refused(dense):
    with pytest.raises(errors.DataError, match="complex numbers"):
        tfprune.one_shot(dense(), 0.5, criterion="apoz", data=X.astype("complex64"))
    ds = tf.data.Dataset.from_tensor_slices(X.astype("complex64")).batch(4)
    with pytest.raises(errors.DataError, match="complex numbers"):
        data.check(dense(), ds)
    with pytest.raises(errors.DataError, match="strings"):
        data.check(dense(), np.full((2, 4), "a"))


def test_nan_labels_are_refused_when_labels_are_used(dense):
    y = Y.astype("float32")
    y[0] = np.nan
    with pytest.raises(errors.DataError, match=r"\(labels\).*NaN/inf"):
        data.check(dense(), (X, y), loss="mse")



def test_check_lengths_reads_every_label_of_several_inputs_and_outputs():
    x = {"a": np.zeros((5, 2)), "b": np.zeros((5, 1))}
    assert data.check_lengths(x, {"cls": np.zeros(5), "reg": np.zeros((5, 1))}) == 5
    assert data.check_lengths(x, None) == 5
    with pytest.raises(errors.DataError, match=r"`val` has 5 samples but its labels have 4"):
        data.check_lengths(x, [np.zeros(5), np.zeros(4)], "val")
    with pytest.raises(errors.ConfigError, match="labels have 4"):
        data.check_lengths(x, np.zeros(4), error=errors.ConfigError)

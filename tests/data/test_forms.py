"""tfprune.data.forms: every accepted form gives the same batches (tests moved from
tests/test_data.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import data, errors
from tfprune.compat import keras

from .conftest import SPARSE, X, Y

L = keras.layers


def two_inputs():
    a, b = keras.Input((4,), name="a"), keras.Input((2,), name="b")
    h = L.Concatenate()([L.Dense(4, name="da")(a), L.Dense(4, name="db")(b)])
    return keras.Model([a, b], L.Dense(3, name="out")(h), name="two")


def test_every_form_yields_the_same_batches(flat):
    want = flat(data.batches((X, Y), batch_size=4))
    assert len(want) == 3
    forms = {
        "list of batches": [(X[i:i + 4], Y[i:i + 4]) for i in range(0, 12, 4)],
        "generator": ((X[i:i + 4], Y[i:i + 4]) for i in range(0, 12, 4)),
        "dataset": tf.data.Dataset.from_tensor_slices((X, Y)).batch(4),
        "nested lists": (X.tolist(), Y.tolist()),
        "tensors": (tf.constant(X), tf.constant(Y)),
    }
    for name, form in forms.items():
        got = flat(data.batches(form, batch_size=4))
        assert len(got) == len(want), name
        for g, w in zip(got, want, strict=True):
            for a, b in zip(g, w, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)


def test_dict_and_list_inputs_of_a_two_input_model():
    m = two_inputs()
    a, b = X, X[:, :2]
    for x in ({"a": a, "b": b}, [a, b]):
        data.check(m, (x, Y), loss=SPARSE)
        got = list(data.batches((x, Y), model=m, loss=SPARSE, batch_size=5))
        assert [len(data.split(g, m)[1]) for g in got] == [5, 5, 2]
    with pytest.raises(errors.DataError, match=r"input 'b'.*shape \(3,\).*expects \(2,\)"):
        data.check(m, {"a": a, "b": X[:, :3]})
    with pytest.raises(errors.DataError, match="missing: \\['b'\\]"):
        data.check(m, {"a": a})


def test_one_shot_accepts_dict_input_for_a_two_input_model():
    m = two_inputs()
    p = tfprune.one_shot(m, 0.5, criterion="taylor", data=tfprune.Calibration(({"a": X, "b": X[:, :2]}, Y), loss=SPARSE))
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.05)


def test_nested_python_lists_are_read_as_arrays(dense):
    p = tfprune.one_shot(dense(), 0.5, criterion="apoz", data=X.tolist())
    assert p is not None
    with pytest.raises(errors.DataError, match="`data` could not be read as an array.*even lengths"):
        data.check(dense(), [[0.0, 1.0, 2.0, 3.0], [1.0]])


def test_not_data_is_refused_naming_the_argument():
    with pytest.raises(errors.DataError, match="`data` of type int"):
        list(data.batches(3))
    with pytest.raises(errors.DataError, match="`data` is None"):
        list(data.batches(None))
    with pytest.raises(errors.ConfigError, match="max_batches"):
        list(data.batches(X, max_batches=0))


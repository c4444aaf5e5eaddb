"""tfprune.data: every accepted form gives the same batches, one set of checks on every batch
read, one bounded iteration (an infinite source never hangs)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import data, errors
from tfprune.compat import keras

L = keras.layers
SPARSE = "sparse_categorical_crossentropy"
X = np.random.RandomState(0).uniform(size=(12, 4)).astype("float32")
Y = np.arange(12) % 3


def dense():
    return keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu", name="fc1"),
                             L.Dense(3, name="fc2")], name="tiny")


def two_inputs():
    a, b = keras.Input((4,), name="a"), keras.Input((2,), name="b")
    h = L.Concatenate()([L.Dense(4, name="da")(a), L.Dense(4, name="db")(b)])
    return keras.Model([a, b], L.Dense(3, name="out")(h), name="two")


class Counting:
    """An endless iterator of (x, y) batches that counts how many were pulled."""

    def __init__(self, nan_at=None):
        self.pulled, self.nan_at = 0, nan_at

    def __iter__(self):
        return self

    def __next__(self):
        self.pulled += 1
        x = X[:4].copy()
        if self.pulled == self.nan_at:
            x[1, 2] = np.nan
        return x, Y[:4]


def _flat(batches):
    return [tuple(np.asarray(p) for p in tf.nest.flatten(b)) for b in batches]


def test_every_form_yields_the_same_batches():
    want = _flat(data.batches((X, Y), batch_size=4))
    assert len(want) == 3
    forms = {
        "list of batches": [(X[i:i + 4], Y[i:i + 4]) for i in range(0, 12, 4)],
        "generator": ((X[i:i + 4], Y[i:i + 4]) for i in range(0, 12, 4)),
        "dataset": tf.data.Dataset.from_tensor_slices((X, Y)).batch(4),
        "nested lists": (X.tolist(), Y.tolist()),
        "tensors": (tf.constant(X), tf.constant(Y)),
    }
    for name, form in forms.items():
        got = _flat(data.batches(form, batch_size=4))
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
    p = tfprune.one_shot(m, 0.5, criterion="taylor", data=({"a": X, "b": X[:, :2]}, Y),
                         loss=SPARSE)
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.05)


def test_nan_in_second_batch_of_a_generator_is_refused():
    gen = Counting(nan_at=2)
    with pytest.raises(errors.DataError, match=r"batch 1.*NaN/inf"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=gen, loss=SPARSE,
                         max_batches=3)
    assert gen.pulled == 2  # refused when read, before the batch is used


def test_endless_generator_is_capped_with_a_message(monkeypatch):
    monkeypatch.setattr(data, "DEFAULT_MAX_BATCHES", 3)
    gen = Counting()
    with pytest.warns(UserWarning, match="more than 3 batches: stopped after 3.*max_batches"):
        p = tfprune.one_shot(dense(), 0.5, criterion="taylor", data=gen, loss=SPARSE)
    assert gen.pulled == 4  # 3 used, 1 more read to know the source did not end
    assert p is not None


def test_repeated_dataset_is_capped_with_a_message(monkeypatch):
    monkeypatch.setattr(data, "DEFAULT_MAX_BATCHES", 4)
    ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(4).repeat()
    assert not data.bounded(ds)
    with pytest.warns(UserWarning, match="stopped after 4,"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=ds, loss=SPARSE)


def test_explicit_max_batches_bounds_an_endless_source_without_a_warning():
    gen = Counting()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = list(data.batches(gen, max_batches=5))
    assert len(got) == 5 and gen.pulled == 5
    assert data.DEFAULT_MAX_BATCHES > 0  # the default cap is finite: no source is read forever


def test_arrays_and_lists_are_read_whole_without_a_cap(monkeypatch):
    monkeypatch.setattr(data, "DEFAULT_MAX_BATCHES", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(data.batches(X, batch_size=2))) == 6
        assert len(list(data.batches([X[:2], X[2:4]]))) == 2


def test_nested_python_lists_are_read_as_arrays():
    p = tfprune.one_shot(dense(), 0.5, criterion="apoz", data=X.tolist())
    assert p is not None
    with pytest.raises(errors.DataError, match="`data` could not be read as an array.*even lengths"):
        data.check(dense(), [[0.0, 1.0, 2.0, 3.0], [1.0]])


def test_labels_out_of_range_in_one_shot_and_sensitivity():
    y = Y.copy()
    y[3] = 7
    with pytest.raises(errors.DataError, match=r"class 7.*3 outputs"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=(X, y), loss=SPARSE)
    m = dense()
    m.compile(loss=SPARSE)
    with pytest.raises(errors.DataError, match=r"class 7.*3 outputs"):
        tfprune.sensitivity(m, (X, y), levels=(0.5,), progress=False)
    with pytest.raises(errors.DataError, match=r"class 7.*3 outputs"):
        tfprune.sensitivity(m, (X, y), levels=(0.5,), metric="accuracy", progress=False)


def test_out_of_range_labels_in_a_later_generator_batch_are_refused():
    def gen():
        yield X[:4], Y[:4]
        yield X[4:8], np.array([0, 1, 9, 2])

    with pytest.raises(errors.DataError, match=r"batch 1.*class 9"):
        list(data.batches(gen(), model=dense(), loss=SPARSE))


def test_fractional_labels_with_a_sparse_loss_are_refused():
    with pytest.raises(errors.DataError, match="non-integer.*class ids"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=(X, Y * 0.5), loss=SPARSE)
    # whole-number float labels are class ids
    data.check(dense(), (X, Y.astype("float32")), loss=SPARSE)


def test_complex_and_string_inputs_are_refused():
    with pytest.raises(errors.DataError, match="complex numbers"):
        tfprune.one_shot(dense(), 0.5, criterion="apoz", data=X.astype("complex64"))
    ds = tf.data.Dataset.from_tensor_slices(X.astype("complex64")).batch(4)
    with pytest.raises(errors.DataError, match="complex numbers"):
        data.check(dense(), ds)
    with pytest.raises(errors.DataError, match="strings"):
        data.check(dense(), np.full((2, 4), "a"))


def test_nan_labels_are_refused_when_labels_are_used():
    y = Y.astype("float32")
    y[0] = np.nan
    with pytest.raises(errors.DataError, match=r"\(labels\).*NaN/inf"):
        data.check(dense(), (X, y), loss="mse")


def test_not_data_is_refused_naming_the_argument():
    with pytest.raises(errors.DataError, match="`data` of type int"):
        list(data.batches(3))
    with pytest.raises(errors.DataError, match="`data` is None"):
        list(data.batches(None))
    with pytest.raises(errors.ConfigError, match="max_batches"):
        list(data.batches(X, max_batches=0))


def test_inputs_gives_one_array_bounded():
    gen = (X[i % 12:i % 12 + 2] for i in itertools.count(0, 2))
    assert data.inputs(gen, max_batches=2).shape == (4, 4)
    assert data.inputs((X, Y)).shape == (12, 4)


def test_export_reads_generators_and_infinite_datasets_bounded(monkeypatch):
    from tfprune.export import _data as export_data

    monkeypatch.setattr(data, "DEFAULT_MAX_BATCHES", 3)
    ds = tf.data.Dataset.from_tensor_slices(X).batch(4).repeat()
    with pytest.warns(UserWarning, match="stopped after 3,"):
        (a,) = export_data.representative(dense(), ds, limit=10**9)
    assert a.shape == (12, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a generator that ends at the cap is not "stopped"
        (b,) = export_data.representative(dense(), (X[i:i + 4] for i in range(0, 12, 4)))
    np.testing.assert_array_equal(b, X)
    with pytest.raises(errors.ExportError, match=r"batch 1.*NaN/inf"):
        export_data.representative(dense(), iter(Counting(nan_at=2)), limit=10**9)

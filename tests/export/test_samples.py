"""export/samples.py: representative data in every accepted form gives the same arrays per
input, checked (shape, NaN, counts, token ids); verification inputs without data are seeded."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.compat import keras
from tfprune.export import samples

L = keras.layers
X = np.random.default_rng(0).random((10, 4)).astype("float32")


def _two_inputs():
    a, b = keras.Input((4,), name="a"), keras.Input((2,), name="b")
    return keras.Model([a, b], L.Dense(1)(L.Concatenate()([a, b])))


def _text(vocab=5):
    i = keras.Input((3,), dtype="int32", name="ids")
    return keras.Model(i, L.Dense(1)(L.Flatten()(L.Embedding(vocab, 2, name="emb")(i))))


def test_every_single_input_form_gives_the_same_samples():
    m = keras.Sequential([keras.Input((4,)), L.Dense(2)])
    forms = [X, (X, np.zeros(10)), [X[:6], X[6:]], tf.data.Dataset.from_tensor_slices(X).batch(3),
             tf.data.Dataset.from_tensor_slices((X, np.zeros(10)))]
    for form in forms:
        (got,) = samples.representative(m, form)
        np.testing.assert_array_equal(got, X)
    (capped,) = samples.representative(m, X, limit=4)
    assert capped.shape == (4, 4)


def test_multi_input_by_order_or_name_and_refusals():
    m = _two_inputs()
    xb = np.ones((10, 2), "float32")
    by_order = samples.representative(m, [X, xb])
    by_name = samples.representative(m, {"b": xb, "a": X})
    for a, b in zip(by_order, by_name, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(errors.ExportError, match="different sample counts per input"):
        samples.representative(m, [X, xb[:5]])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(errors.ExportError, match="NaN or infinite"):
        samples.representative(m, [bad, xb])


def test_token_ids_are_checked_against_the_embedding_and_random_ones_are_valid():
    m = _text(vocab=5)
    with pytest.raises(errors.ExportError, match=r"token id 7.*input_dim=5 \(valid ids 0\.\.4\)"):
        samples.representative(m, np.full((4, 3), 7, "int32"))
    (ids,) = samples.sample_inputs(m, None, n=50, seed=1)
    assert ids.dtype == np.int32 and ids.min() >= 0 and ids.max() <= 4
    np.testing.assert_array_equal(ids, samples.sample_inputs(m, None, n=50, seed=1)[0])
    (floats,) = samples.sample_inputs(keras.Sequential([keras.Input((4,)), L.Dense(2)]), None,
                                      n=8)
    assert floats.shape == (8, 4) and floats.dtype == np.float32

"""Keras 3 text models (integer token ids, Embedding, attention) on the whole path.

tf_keras writes ``input_length`` and ``batch_input_shape`` into an Embedding's config; Keras 3's
Embedding takes neither, so the way back must drop them (the model's InputLayer has the shape).
"""

import keras as keras3
import numpy as np
import pytest

import tfprune


def _text_model(attention: bool):
    L = keras3.layers
    i = keras3.Input((8,), dtype="int32")
    x = L.Embedding(50, 16, name="emb")(i)
    if attention:
        x = L.MultiHeadAttention(num_heads=4, key_dim=4, name="mha")(x, x)
    x = L.GlobalAveragePooling1D()(x)
    return keras3.Model(i, L.Dense(3, name="out")(x))


@pytest.fixture(scope="module")
def tokens():
    rng = np.random.default_rng(0)
    return rng.integers(0, 50, (48, 8)).astype("int32"), rng.integers(0, 3, 48)


@pytest.mark.slow
def test_embedding_model_goes_back_to_keras3(tokens, tmp_path):
    ids, labels = tokens
    model = _text_model(attention=False)
    pruned = tfprune.one_shot(model, 0.5)
    plain = tfprune.strip(pruned)
    assert isinstance(plain, keras3.Model)
    emb = np.asarray(plain.get_layer("emb").get_weights()[0])
    assert 0.45 <= float((emb == 0).mean()) <= 0.55
    np.testing.assert_allclose(plain.predict(ids, verbose=0),
                               pruned.predict(ids, verbose=0), rtol=1e-5, atol=1e-6)
    path = tmp_path / "text.keras"
    plain.save(path)
    again = keras3.models.load_model(path)
    np.testing.assert_allclose(again.predict(ids, verbose=0), plain.predict(ids, verbose=0),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_attention_heads_shrink_back_to_keras3(tokens):
    ids, _ = tokens
    model = _text_model(attention=True)
    pruned = tfprune.one_shot(model, 0.5, criterion="l2", granularity="head")
    small = tfprune.shrink(tfprune.strip(pruned))
    assert isinstance(small, keras3.Model)
    assert small.get_layer("mha").num_heads == 2
    np.testing.assert_allclose(small.predict(ids, verbose=0),
                               pruned.predict(ids, verbose=0), rtol=1e-4, atol=1e-6)

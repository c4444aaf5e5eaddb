"""Fixtures for the export tests: tiny models trained on scikit-learn's 8x8 digits."""

import os

import numpy as np
import pytest

from tfprune.compat import keras
from tfprune.export import tflite_bytes, tflite_file


@pytest.fixture(scope="session")
def digits_data():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    order = np.random.default_rng(0).permutation(len(x))
    tr, te = order[:1500], order[1500:]
    return (x[tr], y[tr]), (x[te], y[te])


def _train(model, data, epochs=8):
    (xtr, ytr), _ = data
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="session")
def digits_cnn(digits_data):
    """Conv8-Pool-Flatten-Dense32-Dense10 trained for a few seconds (about 95% accuracy)."""
    keras.utils.set_random_seed(7)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(8, 3, activation="relu", padding="same", name="conv"),
        L.MaxPooling2D(name="pool"),
        L.Flatten(name="flat"),
        L.Dense(32, activation="relu", name="fc"),
        L.Dense(10, name="logits"),
    ], name="digits_cnn")
    return _train(model, digits_data)


@pytest.fixture(scope="session")
def sparse_mlp():
    """A float MLP whose first kernel is 90% zeros (random positions)."""
    keras.utils.set_random_seed(3)
    L = keras.layers
    model = keras.Sequential([keras.Input((64,)), L.Dense(64, activation="relu", name="d1"),
                              L.Dense(10, name="d2")], name="sparse_mlp")
    w, b = model.layers[0].get_weights()
    w[np.random.default_rng(0).random(w.shape) < 0.9] = 0.0
    model.layers[0].set_weights([w, b])
    return model


@pytest.fixture
def mlp64():
    L = keras.layers
    return keras.Sequential([keras.Input((64,)), L.Dense(32, activation="relu", name="d1"),
                             L.Dense(10, name="d2")], name="mlp64")


@pytest.fixture(scope="session")
def text_model():
    """Token ids (int32, vocabulary 50) -> Embedding(50, 8) -> average -> Dense(3)."""
    keras.utils.set_random_seed(5)
    L = keras.layers
    inp = keras.Input((6,), dtype="int32", name="ids")
    h = L.Embedding(50, 8, name="emb")(inp)
    h = L.GlobalAveragePooling1D(name="avg")(h)
    return keras.Model(inp, L.Dense(3, name="out")(h), name="text")


@pytest.fixture(scope="session")
def token_ids():
    return np.random.default_rng(0).integers(0, 50, (48, 6)).astype("int32")


@pytest.fixture(scope="session")
def lstm_model():
    """LSTM(4) over 5 steps of 3 features -> Dense(2)."""
    keras.utils.set_random_seed(1)
    L = keras.layers
    inp = keras.Input((5, 3), name="seq")
    return keras.Model(inp, L.Dense(2, name="head")(L.LSTM(4, name="lstm")(inp)),
                       name="lstm_model")


@pytest.fixture(scope="session")
def two_io_model():
    """Inputs a (4,) and b (3,), outputs o1 (2,) and o2 (3,): Dense layers and a concat."""
    keras.utils.set_random_seed(2)
    L = keras.layers
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = L.Concatenate(name="cat")([L.Dense(5, name="da")(a), L.Dense(5, name="db")(b)])
    return keras.Model([a, b], [L.Dense(2, name="o1")(h), L.Dense(3, name="o2")(h)],
                       name="two_io")


@pytest.fixture(scope="session")
def two_io_data():
    rng = np.random.default_rng(0)
    return [rng.random((40, 4)).astype("float32"), rng.random((40, 3)).astype("float32")]


@pytest.fixture
def umask():
    """``umask(mask)``: set the process umask for this test (restored after it)."""
    def set_mask(mask):
        return os.umask(mask)

    old = os.umask(0o022)
    os.umask(old)
    yield set_mask
    os.umask(old)


@pytest.fixture
def no_conversion(monkeypatch):
    """Make any conversion fail loudly: the error under test must come first."""

    def boom(*args, **kwargs):
        raise AssertionError("conversion was attempted")

    monkeypatch.setattr(tflite_file, "convert", boom)


# -- the DECODE compression tests (compress/test_*.py) ---------------------------------------
@pytest.fixture(scope="module")
def data():
    """40 random 8x8x1 images: representative data of the compression tests' CNNs."""
    return np.random.default_rng(1).random((40, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def int8(data):
    """``int8(model)``: the model's full-int8 .tflite bytes with int8 input and output,
    calibrated on ``data`` (the input every compression test encodes and runs in TFLM)."""
    return lambda model: tflite_bytes(model, quantize="int8", data=data, int8_io=True)


def _codebook(w, sparsity, levels):
    """``w`` with its smallest ``sparsity`` fraction set to 0 and the non-zeros snapped to
    ``levels`` distinct float32 values (quantiles); zeros kept. ``w`` is changed in place."""
    if sparsity:
        w[np.abs(w) < np.quantile(np.abs(w), sparsity)] = 0.0
    if levels:
        grid = np.quantile(w[w != 0], np.linspace(0, 1, levels))
        snapped = grid[np.abs(w[..., None] - grid).argmin(-1)].astype("float32")
        w = np.where(w == 0, 0.0, snapped).astype("float32")
    return w


def _small_cnn(levels=None, sparsity=0.0, seed=0):
    """Conv16-Conv24-Pool-Flatten-Dense48-Dense10, each kernel through :func:`_codebook`,
    biases random (scale 0.05)."""
    keras.utils.set_random_seed(seed)
    L = keras.layers
    m = keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(16, 3, activation="relu", padding="same", name="conv"),
        L.Conv2D(24, 3, activation="relu", padding="same", name="conv2"),
        L.MaxPooling2D(name="pool"),
        L.Flatten(name="flat"),
        L.Dense(48, activation="relu", name="fc"),
        L.Dense(10, name="logits"),
    ])
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        w = _codebook(ws[0], sparsity, levels)
        ws[1][:] = rng.normal(size=ws[1].shape) * 0.05
        layer.set_weights([w, ws[1]])
    return m


def _sparse_clustered(seed=0, sparsity=0.9, levels=8):
    """Conv16-Pool-Flatten-Dense64-Dense10, kernels ``sparsity`` zeros and ``levels`` values
    (the Huffman tests' model; biases as initialised)."""
    keras.utils.set_random_seed(seed)
    L = keras.layers
    m = keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(16, 3, activation="relu", padding="same", name="conv"),
        L.MaxPooling2D(name="pool"),
        L.Flatten(name="flat"),
        L.Dense(64, activation="relu", name="fc"),
        L.Dense(10, name="logits"),
    ])
    for layer in m.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([_codebook(ws[0], sparsity, levels).astype("float32"), ws[1]])
    return m


@pytest.fixture(scope="session")
def small_cnn():
    """``small_cnn(levels=None, sparsity=0.0, seed=0)``: a new CNN for the LUT/prune encodings."""
    return _small_cnn


@pytest.fixture(scope="session")
def sparse_clustered():
    """``sparse_clustered(seed=0, sparsity=0.9, levels=8)``: a new CNN for the Huffman tests."""
    return _sparse_clustered

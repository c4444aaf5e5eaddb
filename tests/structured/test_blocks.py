"""structured/blocks.py: identity residual blocks found and dropped (by weight norm or by
the loss), the result equal to the model with the block's branch zeroed.
(Tests moved from test_structured.py.)"""

import numpy as np
import pytest

from tfprune import errors
from tfprune import structured as S
from tfprune.compat import keras

L = keras.layers


def _resnet_like():
    i = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 1, name="stem")(i)
    for k in range(3):
        y = L.Conv2D(4, 3, padding="same", activation="relu", name=f"b{k}_c1")(x)
        y = L.Conv2D(4, 3, padding="same", name=f"b{k}_c2")(y)
        x = L.Add(name=f"b{k}_add")([x, y])
    return keras.Model(i, L.Dense(2, name="head")(L.GlobalAveragePooling2D(name="gap")(x)))


def test_find_blocks_finds_identity_residual_blocks():
    blocks = S.find_blocks(_resnet_like())
    assert [b.add for b in blocks] == ["b0_add", "b1_add", "b2_add"]
    assert blocks[1].shortcut == "b0_add" and blocks[1].layers == ("b1_c1", "b1_c2")


@pytest.mark.slow
def test_dropped_block_equals_block_replaced_by_identity():
    m = _resnet_like()
    m.get_layer("b1_c2").set_weights([w * 1e-3 for w in m.get_layer("b1_c2").get_weights()])
    small, report = S.drop_blocks(m, 1)
    assert report.dropped == ("b1_add",)
    assert "b1_c1" not in [layer.name for layer in small.layers]
    ref = keras.models.clone_model(m)
    ref.set_weights(m.get_weights())
    ref.get_layer("b1_c2").set_weights(
        [np.zeros_like(w) for w in m.get_layer("b1_c2").get_weights()]
    )
    x = np.random.RandomState(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(small(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-6)
    assert len(m.layers) == 13  # the input model is untouched


@pytest.mark.slow
def test_drop_blocks_by_loss_and_fraction():
    m = _resnet_like()
    m.compile(loss="mse")
    x = np.random.RandomState(0).normal(size=(8, 8, 8, 3)).astype("float32")
    y = np.zeros((8, 2), "float32")
    small, report = S.drop_blocks(m, 0.67, criterion="loss", data=(x, y))
    assert len(report.dropped) == 2 and set(report.scores) == {"b0_add", "b1_add", "b2_add"}
    assert small(x).shape == (8, 2)
    with pytest.raises(errors.ConfigError, match="data=\\(x, y\\)"):
        S.drop_blocks(m, 1, criterion="loss")
    with pytest.raises(errors.ConfigError, match="3 residual blocks"):
        S.drop_blocks(m, 4)

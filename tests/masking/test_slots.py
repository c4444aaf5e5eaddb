"""masking/slots.py: the layer slots of a subclassed tf_keras model (found through its
attributes, lists, dicts and custom layers), replaced in place, and the model copied or
viewed as Functional; each refusal names the fix."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import slots

L = keras.layers


class Block(L.Layer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.inner = L.Dense(3, name="inner")

    def call(self, x):
        return self.inner(x)


class Net(keras.Model):
    def __init__(self, units=3, **kw):
        super().__init__(**kw)
        self.fc = L.Dense(units, name="fc")
        self.blocks = [Block(name="b0")]
        self.heads = {"a": L.Dense(2, name="ha")}
        self.seq = keras.Sequential([keras.Input((3,)), L.Dense(3, name="s")], name="seq")

    def call(self, x):
        return self.heads["a"](self.seq(self.blocks[0](self.fc(x))))

    def get_config(self):
        return {"units": self.fc.units}


def _built(cls=Net, *args):
    m = cls(*args)
    m(tf.zeros((1, 4)))
    return m


def test_slots_walk_attributes_lists_dicts_and_custom_layers_not_graph_models():
    m = _built()
    found = {p: lyr.name for p, _, _, lyr in slots.slots(m)}
    assert found == {"fc": "fc", "blocks/0": "b0", "blocks/0/inner": "inner",
                     "heads/a": "ha", "seq": "seq"}  # seq is a leaf: not walked into
    assert slots.is_subclassed(m) and not slots.is_subclassed(m.seq)
    assert slots.is_graph_model(m.seq) and slots.is_leaf(m.seq) and not slots.is_leaf(m.blocks[0])


def test_set_slot_replaces_attributes_and_items_but_refuses_a_tuple():
    m = _built()
    by_path = {p: (c, k) for p, c, k, _ in slots.slots(m)}
    new = L.Dense(2, name="new")
    slots.set_slot(*by_path["heads/a"], new)
    assert m.heads["a"] is new
    slots.set_slot(*by_path["fc"], new)
    assert m.fc is new

    class Tupled(keras.Model):
        def __init__(self):
            super().__init__()
            self.pair = (L.Dense(2), L.Dense(2))

        def call(self, x):
            return self.pair[1](self.pair[0](x))

    t = _built(Tupled)
    (_, container, key, _), _ = slots.slots(t)
    with pytest.raises(errors.ModelTypeError, match=r"in a tuple.*self\.blocks = \[\.\.\.\]"):
        slots.set_slot(container, key, new)


@pytest.mark.slow
def test_copy_model_keeps_names_and_weights_in_a_new_object():
    m = _built()
    c = slots.copy_model(m)
    assert c is not m and c.name == m.name and c.fc is not m.fc
    assert [p for p, *_ in slots.slots(c)] == [p for p, *_ in slots.slots(m)]
    for a, b in zip(m.get_weights(), c.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(c(x), m(x), atol=1e-6)


def test_copy_refusal_offers_get_config_and_inplace():
    class NoConfig(Net):
        def __init__(self, units):  # from_config(get_config()) cannot call this
            super().__init__(units)

        def get_config(self):
            return {}

    with pytest.raises(errors.ModelTypeError, match=r"Implement get_config\(\).*inplace=True"):
        slots.copy_model(_built(NoConfig, 3))


@pytest.mark.slow
def test_functional_view_shares_the_layers_and_refuses_two_arguments():
    m = _built()
    view = slots.functional_view(m)
    assert view.input_shape == (None, 4) and view.layers[-1] is m

    class Two(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = L.Dense(2)

        def call(self, a, b):
            return self.fc(a + b)

    t = Two()
    t(tf.zeros((1, 3)), tf.zeros((1, 3)))
    with pytest.raises(errors.ModelTypeError, match="needs one input argument"):
        slots.functional_view(t)

"""tfprune.structured.rebuild: a model rebuilt from its config with channels zeroed or removed."""

import numpy as np
import pytest

from tfprune import errors
from tfprune import graph as graph_lib
from tfprune.compat import keras
from tfprune.structured import Plan, plans, rebuild

L = keras.layers


def _nested():
    inner = keras.Sequential([keras.Input((4,)), L.Dense(3, name="a")], name="inner")
    i = keras.Input((4,))
    return keras.Model(i, L.Dense(2, name="top")(inner(i)), name="outer")


def _mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), L.Dense(4, name="h"), L.Dense(2, name="out")])


def test_layers_by_path_reaches_into_nested_models():
    m = _nested()
    assert list(rebuild.layers_by_path(m)) == ["inner", "inner/a", "top"]
    assert {"Dense", "Sequential", "Functional"} <= set(rebuild.custom_objects(m))


def test_config_entry_prefers_a_full_name_and_names_a_missing_layer():
    config = _nested().get_config()
    assert rebuild.config_entry(config, "inner/a")["units"] == 3
    config["layers"][-1]["config"]["name"] = "inner/a"  # a name holding "/" wins
    assert rebuild.config_entry(config, "inner/a")["units"] == 2
    with pytest.raises(errors.ConfigError, match="'nope' not found"):
        rebuild.config_entry(config, "nope")


def test_copy_weights_matches_layers_by_path_through_a_transform():
    old, new = _nested(), _nested()
    rebuild.copy_weights(old, new, lambda path, layer, ws: [w * 2 for w in ws])
    np.testing.assert_allclose(new.get_layer("top").kernel.numpy(),
                               2 * old.get_layer("top").kernel.numpy())


@pytest.mark.parametrize("mode", ["mask", "slice"])
def test_rebuild_zeroes_or_removes_the_channels_not_kept(mode):
    m = _mlp()
    g = graph_lib.build(m)
    keep = plans.keep_masks(g, Plan({"h": (0, 2)}, {"h": 4}))
    new = rebuild.rebuild(g, keep, mode=mode)
    h, out = new.get_layer("h").kernel.numpy(), new.get_layer("out").kernel.numpy()
    ref_h, ref_out = m.get_layer("h").kernel.numpy(), m.get_layer("out").kernel.numpy()
    if mode == "slice":
        np.testing.assert_array_equal(h, ref_h[:, [0, 2]])
        np.testing.assert_array_equal(out, ref_out[[0, 2]])
    else:
        np.testing.assert_array_equal(h[:, [1, 3]], 0)
        np.testing.assert_array_equal(out[[1, 3]], 0)
        np.testing.assert_array_equal(h[:, [0, 2]], ref_h[:, [0, 2]])
    masks = rebuild.weight_masks(g, keep)
    assert masks["h/kernel"].shape == (1, 4) and masks["out/kernel"].shape == (4, 1)
    np.testing.assert_array_equal(masks["h/bias"], [1, 0, 1, 0])

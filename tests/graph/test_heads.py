"""tfprune/graph/heads.py: where a MultiHeadAttention's heads live (the axis of each kernel and
bias), the channel map the wrapper and probe read, and the "<layer>/heads" groups."""

from tfprune.compat import keras
from tfprune.graph import heads


def _att(num_heads=3, key_dim=2, **kw):
    return keras.layers.MultiHeadAttention(num_heads, key_dim, **kw)


def test_only_attention_layers_and_subclasses_are_attention():
    class Mine(keras.layers.MultiHeadAttention):
        pass

    assert heads.is_attention(_att()) and heads.is_attention(Mine(2, 2))
    assert not heads.is_attention(keras.layers.Dense(2))


def test_weight_names_list_kernels_then_biases_unless_use_bias_is_off():
    assert heads.weight_names(_att()) == ["_query_dense.kernel", "_key_dense.kernel",
                                          "_value_dense.kernel", "_output_dense.kernel",
                                          "_query_dense.bias", "_key_dense.bias",
                                          "_value_dense.bias"]
    assert heads.weight_names(_att(use_bias=False)) == [n for n, _ in heads.KERNELS]


def test_head_map_puts_each_head_on_its_axis():
    entries = {e["weight"]: e for e in heads.head_map(_att(4, name="att"))}
    assert {k: e["axis"] for k, e in entries.items()} == {
        "_query_dense.kernel": 1, "_key_dense.kernel": 1, "_value_dense.kernel": 1,
        "_output_dense.kernel": 0, "_query_dense.bias": 0, "_key_dense.bias": 0,
        "_value_dense.bias": 0}
    assert {e["group"] for e in entries.values()} == {"att/heads"}
    assert {e["channels"] for e in entries.values()} == {4}
    assert all(e["positions"] == [0, 1, 2, 3] for e in entries.values())
    assert entries["_output_dense.kernel"]["role"] == "out"
    assert entries["_value_dense.bias"]["role"] == "bias"


def test_head_map_axes_are_the_built_weights_head_axes():
    i = keras.Input((5, 6))
    layer = _att(3, 2, name="att")
    keras.Model(i, layer(i, i))
    for e in heads.head_map(layer):
        owner, attr = e["weight"].split(".")
        assert getattr(getattr(layer, owner), attr).shape[e["axis"]] == 3


def test_head_groups_cover_nested_models_and_honour_exclude():
    i = keras.Input((5, 4))
    inner_in = keras.Input((5, 4))
    inner = keras.Model(inner_in, _att(2, 2, name="inner_att")(inner_in, inner_in), name="blk")
    out = _att(4, 2, name="outer_att")(inner(i), i)
    m = keras.Model(i, out)
    groups = heads.head_groups(m)
    assert sorted(groups) == ["inner_att/heads", "outer_att/heads"]
    g = groups["outer_att/heads"]
    assert (g.channels, g.layers(), g.name) == (4, ["outer_att"], "outer_att/heads")
    assert sorted(g.index for g in groups.values()) == [0, 1]
    assert list(heads.head_groups(m, exclude=["inner_att"])) == ["outer_att/heads"]

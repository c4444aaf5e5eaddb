"""N:M and block masks: exact counts per group (property tests), and through prune/one_shot."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import masks

L = keras.layers


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(nm=st.sampled_from([(1, 2), (1, 4), (2, 4), (3, 4), (2, 8), (4, 8)]),
       groups=st.integers(1, 6), out=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_nm_mask_keeps_exactly_n_in_every_group_of_m(nm, groups, out, seed):
    n, m = nm
    scores = tf.random.stateless_uniform([groups * m, out], seed=[seed, 1])
    mask = masks.nm_mask(scores, n, m).numpy()
    assert set(np.unique(mask)) <= {0.0, 1.0}
    per_group = mask.reshape(groups, m, out).sum(axis=1)
    assert np.all(per_group == n)
    kept_scores = np.where(mask > 0, scores.numpy(), np.inf).reshape(groups, m, out).min(1)
    dropped = np.where(mask == 0, scores.numpy(), -np.inf).reshape(groups, m, out).max(1)
    assert np.all(kept_scores >= dropped)


@settings(max_examples=40, deadline=None)
@given(block=st.sampled_from([(1, 1), (2, 1), (4, 1), (2, 2), (1, 4)]),
       rb=st.integers(1, 5), cb=st.integers(1, 5), s=st.floats(0.0, 0.95),
       seed=st.integers(0, 2**16))
def test_block_mask_keeps_whole_blocks_at_exact_count(block, rb, cb, s, seed):
    r, c = block
    scores = tf.random.stateless_uniform([rb * r, cb * c], seed=[seed, 2])
    mask = masks.block_mask(scores, s, block).numpy()
    blocks = mask.reshape(rb, r, cb, c)
    sums = blocks.sum(axis=(1, 3))
    assert set(np.unique(sums)) <= {0.0, float(r * c)}  # whole blocks only
    assert (sums > 0).sum() == int(masks.kept_count(rb * cb, s))


def test_nm_mask_rejects_n_not_below_m_and_bad_length():
    with pytest.raises(ValueError, match="1 <= N < M"):
        masks.nm_mask(tf.ones([4, 1]), 4, 4)
    with pytest.raises(ValueError, match="divisible by 4"):
        masks.nm_mask(tf.ones([6, 1]), 2, 4)


@pytest.mark.slow
def test_prune_nm_on_conv_groups_input_channels_and_survives_fit():
    m = keras.Sequential([keras.Input((6, 6, 8)), L.Conv2D(4, 3, name="c"), L.Flatten(),
                          L.Dense(4, name="d")])
    p = tfprune.prune(m, granularity="1:4", exclude=["d"])
    p.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(16, 6, 6, 8)).astype("float32")
    p.fit(x, np.zeros((16, 4)), epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])
    k = tfprune.strip(p).get_layer("c").kernel.numpy()
    assert np.all((k != 0).reshape(3, 3, 2, 4, 4).sum(axis=3) <= 1)
    assert np.mean(k == 0) == pytest.approx(0.75, abs=0.01)


def test_prune_nm_refuses_layer_with_indivisible_input_and_names_it():
    m = keras.Sequential([keras.Input((6,)), L.Dense(4, name="odd")])
    with pytest.raises(errors.ConfigError, match=r"'odd'.*divisible by 4.*exclude"):
        tfprune.prune(m, granularity="2:4")
    with pytest.raises(errors.ConfigError, match="N < M"):
        tfprune.prune(m, granularity="4:4")
    with pytest.raises(errors.ConfigError, match="scope='layer'"):
        tfprune.prune(m, sparsity=0.5, granularity="n:m", scope="global")


def test_one_shot_block_4x1_prunes_whole_blocks_along_input_axis():
    m = keras.Sequential([keras.Input((16,)), L.Dense(8, name="d")])
    p = tfprune.one_shot(m, 0.75, granularity="block:4x1")
    k = tfprune.strip(p).get_layer("d").kernel.numpy()
    nz = (k != 0).reshape(4, 4, 8).sum(axis=1)
    assert set(np.unique(nz)) <= {0, 4}
    assert np.mean(k == 0) == pytest.approx(0.75)


def test_block_that_does_not_tile_a_layer_is_refused():
    m = keras.Sequential([keras.Input((6,)), L.Dense(8, name="d")])
    with pytest.raises(errors.ConfigError, match=r"'d'.*block \(4, 1\) does not tile"):
        tfprune.one_shot(m, 0.5, granularity="block:4x1")


def test_global_block_scope_meets_total_target():
    m = keras.Sequential([keras.Input((16,)), L.Dense(8), L.Dense(4)])
    p = tfprune.one_shot(m, 0.5, granularity="block:4x1", scope="global")
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.02)


def test_granularity_survives_keras_save_and_load(tmp_path):
    m = keras.Sequential([keras.Input((8,)), L.Dense(8, name="d")])
    p = tfprune.one_shot(m, None, granularity="1:4")
    p.save(str(tmp_path / "m.keras"))
    again = keras.models.load_model(str(tmp_path / "m.keras"))
    w = tfprune.masking.pruner.wrapped_layers(again)[0]
    assert (w.granularity, w.n_m) == ("n:m", (1, 4))


def test_unstructured_alias_is_translated_by_the_deprecation_table():
    from tfprune import deprecations
    from tfprune.core import criteria

    with pytest.warns(DeprecationWarning) as caught:
        assert criteria.resolve_granularity("unstructured") == "weight"
    entry = deprecations.find("granularity", "unstructured")
    assert [str(w.message) for w in caught] == [deprecations.message(entry)]
    assert "removed in tfprune 0.4" in str(caught[0].message)
    assert criteria.resolve_granularity("weight") == "weight"


# ------------------------------------------------------------------ one value, parsed once
@pytest.mark.parametrize("spelling, name, n_m, block, canonical", [
    ("weight", "weight", (2, 4), (4, 1), "weight"),
    ("n:m", "n:m", (2, 4), (4, 1), "2:4"),
    ("1:4", "n:m", (1, 4), (4, 1), "1:4"),
    (" 2 : 8 ", "n:m", (2, 8), (4, 1), "2:8"),
    ("block", "block", (2, 4), (4, 1), "block:4x1"),
    ("block:8x1", "block", (2, 4), (8, 1), "block:8x1"),
    ("block:2X2", "block", (2, 4), (2, 2), "block:2x2"),
    ("channel", "channel", (2, 4), (4, 1), "channel"),
    ("head", "head", (2, 4), (4, 1), "head"),
])
def test_every_spelling_parses_to_one_value_that_round_trips(spelling, name, n_m, block,
                                                             canonical):
    from tfprune.core.criteria.granularity import parse

    g = parse(spelling)
    assert (g.name, g.n_m, g.block, str(g)) == (name, n_m, block, canonical)
    assert parse(str(g)) == g and parse(g) == g


@pytest.mark.parametrize("bad, match", [
    ("chanel", r"Unknown granularity 'chanel'\. Did you mean 'channel'\?.*'N:M'.*'block:RxC'"),
    ("2:x", r"'2:x'.*Valid forms"),
    ("block:4", r"'block:4'.*Valid forms"),
    ("block:0x1", r"'block:0x1'.*>= 1"),
    (3, r"Unknown granularity 3"),
    ("4:2", r"`granularity` = \(4, 2\).*0 < N < M"),
    ("4:4", r"0 < N < M"),
    ("0:4", r"0 < N < M"),
])
def test_a_bad_spelling_is_refused_naming_it_and_the_valid_forms(bad, match):
    from tfprune.core.criteria.granularity import parse

    with pytest.raises(errors.ConfigError, match=match):
        parse(bad)


def test_the_former_three_argument_spelling_gives_the_same_value():
    from tfprune.core.criteria.granularity import Granularity, from_pairs, parse

    assert from_pairs("n:m", [1, 4], [4, 1]) == parse("1:4") == Granularity("n:m", (1, 4))
    assert from_pairs("block", None, (8, 1)) == parse("block:8x1")
    assert from_pairs("weight", (1, 4), (2, 2)) == parse("weight")  # pairs of other units
    with pytest.raises(errors.ConfigError, match=r"`n_m` = \(4, 2\)"):
        from_pairs("n:m", (4, 2))
    with pytest.raises(errors.ConfigError, match="`block`"):
        from_pairs("block", None, (4, "1"))


def test_a_wrapper_saves_its_granularity_as_one_string():
    p = tfprune.one_shot(keras.Sequential([keras.Input((8,)), L.Dense(4, name="d")]), None,
                         granularity="1:4")
    config = p.layers[0].get_config()
    assert config["granularity"] == "1:4" and "n_m" not in config and "block" not in config


@pytest.mark.parametrize("old, new", [({"granularity": "n:m", "n_m": (1, 4)}, "1:4"),
                                      ({"granularity": "block", "block": (2, 2)}, "block:2x2")])
def test_the_deprecated_pair_keywords_warn_and_give_the_same_masks(old, new):
    m = keras.Sequential([keras.Input((8,)), L.Dense(4, name="d")])
    with pytest.warns(DeprecationWarning, match=f"granularity='{new}'.*tfprune 0.4"):
        a = tfprune.one_shot(m, 0.5 if "block" in old else None, **old)
    b = tfprune.one_shot(m, 0.5 if "block" in old else None, granularity=new)
    np.testing.assert_array_equal(a.layers[0].pruning_vars[0][1].numpy(),
                                  b.layers[0].pruning_vars[0][1].numpy())
    with pytest.warns(DeprecationWarning, match=f"granularity='{new}'"):
        c = tfprune.prune(m, sparsity=0.5 if "block" in old else None, **old)
    assert str(c.layers[0].granularity_spec) == new

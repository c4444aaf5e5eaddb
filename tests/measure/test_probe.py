"""measure/probe.py: the calibration cache and the channel probe's measurements."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.compat import keras
from tfprune.measure import cutpoints, probe

L = keras.layers
X = np.random.default_rng(0).random((24, 4)).astype("float32")
Y = np.arange(24) % 2
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), L.Dense(3, name="h"), L.Dense(2, name="out")])


def test_cache_cuts_batches_and_refuses_what_cannot_be_measured():
    got = probe.cache((X, Y), batch_size=10, max_samples=15)
    assert [len(x) for x, _ in got] == [10, 5]
    np.testing.assert_array_equal(np.concatenate([y for _, y in got]), Y[:15])
    with pytest.raises(errors.ConfigError, match="must give labels"):
        probe.cache(X)
    with pytest.raises(errors.ConfigError, match="x has 24 samples, y has 3"):
        probe.cache((X, Y[:3]))
    with pytest.raises(errors.ConfigError, match="with 4 samples; measuring needs"):
        probe.cache((X[:4], Y[:4]))


def test_deltas_are_the_loss_change_of_removing_each_channel_alone():
    m = _mlp()
    before = [w.copy() for w in m.get_weights()]
    p = probe.ChannelProbe(m, probe.cache((X, Y)), probe.loss_metric(LOSS), cuts=cutpoints.Cuts(0))
    d = p.deltas("h")
    kh, bh, ko, bo = before
    base = float(LOSS(Y, (X @ kh + bh) @ ko + bo))
    for c in range(3):
        keep = np.arange(3) != c  # channel c gone from h's kernel, bias and out's inputs
        want = float(LOSS(Y, (X @ kh[:, keep] + bh[keep]) @ ko[keep] + bo)) - base
        assert d[c] == pytest.approx(want, abs=1e-5)
    assert p.base == pytest.approx(base, abs=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights(), strict=True))
    assert float(p.run()) == pytest.approx(p.base)  # every measurement was restored


def test_higher_is_better_turns_a_drop_into_a_positive_delta():
    p = probe.ChannelProbe(_mlp(), probe.cache((X, Y)), probe.loss_metric(LOSS),
                           higher_is_better=True, cuts=cutpoints.Cuts(0))
    assert p.delta(p.base - 0.25) == pytest.approx(0.25)
    q = probe.ChannelProbe(_mlp(), probe.cache((X, Y)), probe.loss_metric(LOSS), cuts=cutpoints.Cuts(0))
    assert q.delta(q.base - 0.25) == pytest.approx(-0.25)


def test_excluded_layers_and_unknown_granularity():
    p = probe.ChannelProbe(_mlp(), probe.cache((X, Y)), probe.loss_metric(LOSS),
                           exclude=["h"], cuts=cutpoints.Cuts(0))
    assert "h" not in p.groups
    with pytest.raises(errors.ConfigError, match="granularity of ChannelProbe"):
        probe.ChannelProbe(_mlp(), probe.cache((X, Y)), probe.loss_metric(LOSS),
                           granularity="weight")


def test_measure_loss_deltas_keeps_only_the_groups_asked_for():
    d = probe.measure_loss_deltas(_mlp(), (X, Y), loss=LOSS, groups=["h", "nope"])
    assert list(d) == ["h"] and d["h"].shape == (3,)


@pytest.mark.slow
def test_cuts_give_the_same_measurements_as_the_whole_model(deep):
    m = deep()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype("float32"), rng.integers(0, 3, 40)
    fn = probe.loss_metric(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cut = probe.ChannelProbe(m, probe.cache((x, y)), fn, cuts=cutpoints.Cuts(2))
    whole = probe.ChannelProbe(m, probe.cache((x, y)), fn, cuts=cutpoints.Cuts(0))
    assert len(set(cut.cut_of.values())) == 2 and not whole.cut_of
    assert cut.base == whole.base
    for g in list(cut.cut_of)[-2:]:  # groups measured from a cut
        np.testing.assert_allclose(cut.deltas(g), whole.deltas(g), rtol=1e-5, atol=1e-6)
    before = [w.copy() for w in m.get_weights()]
    assert all((a == b).all() for a, b in zip(before, m.get_weights(), strict=True))


def test_compile_metric_matches_a_plain_mean_for_any_sample_count():
    m = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    for n in (10, 53, 64):  # 53: no chunk size divides it, a tail chunk
        x = np.random.default_rng(n).normal(size=(n, 3)).astype("float32")
        run = probe.compile_metric(m, [(x, np.zeros(n))], lambda y, p: keras.backend.mean(p))
        np.testing.assert_allclose(float(run()), m(x).numpy().mean(), rtol=1e-5)

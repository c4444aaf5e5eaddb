"""Subclassed Keras 3 models (``class M(keras.Model)`` with ``import keras``): prune, train in
Keras 3's own fit with Keras 3 optimizers/losses/callbacks, strip to the user's class, save and
reload with plain Keras; n:m, block, one_shot, sensitivity; channel/head and data criteria
refused with the reason (tfprune/masking/keras3_subclassed.py)."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.masking import keras3_slots

keras = pytest.importorskip("keras")


from tests.masking._keras3_models import _compile, _conv, _data, _kernels, _mlp, _zero_frac  # noqa: E402,F401


@pytest.mark.slow
@pytest.mark.parametrize("make, shape, classes", [(_mlp, (8,), 3), (_conv, (8, 8, 3), 4)])
def test_prune_fit_strip_save_reload(tmp_path, make, shape, classes):
    m = make()
    before = [v.numpy().copy() for v in m.weights]
    x, y = _data(shape, classes)
    p = tfprune.prune(m, sparsity=0.5)
    assert type(p) is type(m) and p is not m
    _compile(p)
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5)
    h = p.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[tfprune.PruningCallback(), stop])
    assert h.history["sparsity"][-1] == pytest.approx(0.5, abs=0.01)
    kernels = _kernels(p)
    assert all(_zero_frac(k) == pytest.approx(0.5, abs=0.02) for k in kernels.values())
    # more training steps: after every batch (not only at the end) pruned weights are zero
    seen = []
    probe = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        all(np.all(k[kernels[n] == 0] == 0) for n, k in _kernels(p).items())))
    p.fit(x, y, epochs=1, batch_size=16, verbose=0,
          callbacks=[tfprune.PruningCallback(), probe])
    assert seen == [True] * 4
    for name, k in _kernels(p).items():
        assert np.all(k[kernels[name] == 0] == 0), name
    # the model passed in is unchanged and carries no tfprune state
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, m.weights, strict=True))
    assert keras3_slots.state_of(m) is None
    s = tfprune.strip(p)
    assert type(s) is type(m) and keras3_slots.state_of(s) is None
    assert all(_zero_frac(k) == pytest.approx(0.5, abs=0.02) for k in _kernels(s).values())
    np.testing.assert_allclose(s(x[:8]), p(x[:8]), atol=1e-6)
    s.save(tmp_path / "s.keras")
    r = keras.models.load_model(tmp_path / "s.keras")
    assert type(r) is type(m)
    np.testing.assert_allclose(r(x[:8]), s(x[:8]), atol=1e-6)


def test_one_shot_inplace_exclude_and_global():
    m = _mlp()
    p = tfprune.one_shot(m, 0.75, exclude=["fc2"])
    assert _zero_frac(p.fc1.kernel) == 0.75 and _zero_frac(p.fc2.kernel) == 0
    g = tfprune.one_shot(m, 0.5, scope="global")
    assert keras3_slots.sparsity_report(g)["sparsity"] == pytest.approx(0.5, abs=0.01)
    same = tfprune.one_shot(m, 0.5, inplace=True)
    assert same is m and _zero_frac(m.fc1.kernel) == 0.5
    assert tfprune.strip(m, inplace=True) is m and keras3_slots.state_of(m) is None
    with pytest.raises(errors.AlreadyPrunedError, match="already pruned"):
        tfprune.prune(p, sparsity=0.5)


@pytest.mark.slow
def test_nm_and_block_patterns():
    m = _conv()
    nm = tfprune.one_shot(m, granularity="2:4", exclude=["conv"])
    for name, k in _kernels(nm).items():
        if name == "conv":
            assert _zero_frac(k) == 0  # excluded (3 input channels: no 2:4 groups)
            continue
        axis = k.ndim - 2
        groups = np.moveaxis(k, axis, -1).reshape(-1, k.shape[axis] // 4, 4)
        assert np.all((groups != 0).sum(-1) == 2), name
    b = tfprune.one_shot(_mlp(), 0.5, granularity="block:4x1")
    k = b.fc1.kernel.numpy()
    blocks = (k.reshape(2, 4, 16) != 0).sum(1)
    assert set(np.unique(blocks)) <= {0, 4} and _zero_frac(k) == 0.5


def test_nm_refuses_a_kernel_that_does_not_tile():
    with pytest.raises(errors.ConfigError, match=r"Layer 'conv' \(Conv2D\).*divisible by 4.*exclude=\['conv'\]"):
        tfprune.one_shot(_conv(), granularity="2:4")


def test_channel_head_and_data_criteria_refused_with_reason():
    m = _mlp()
    for unit in ("channel", "head"):
        with pytest.raises(errors.ConfigError,
                           match=rf"granularity='{unit}' is refused for subclassed model MLP.*"
                                 "no\\s+graph"):
            tfprune.prune(m, sparsity=0.5, granularity=unit)
    with pytest.raises(errors.ConfigError, match=r"'taylor'.*abs_grad_weight.*'magnitude'"):
        tfprune.prune(m, sparsity=0.5, criterion="taylor")
    with pytest.raises(errors.ConfigError, match=r"'wanda'.*weight-only criterion"):
        tfprune.one_shot(m, 0.5, criterion="wanda", data=_data((8,), 3))
    with pytest.raises(errors.ConfigError, match="compensate"):
        tfprune.one_shot(m, 0.5, data=tfprune.Calibration(_data((8,), 3), compensate=True))
    assert keras3_slots.state_of(m) is None


@pytest.mark.slow
def test_sensitivity_at_weight_granularity():
    m = _mlp()
    _compile(m)
    before = [v.numpy().copy() for v in m.weights]
    x, y = _data((8,), 3)
    r = tfprune.sensitivity(m, (x, y), levels=(0.5, 0.9), metric="accuracy", progress=False)
    assert set(r.curves) == {"fc1", "fc2"} and r.sizes == {"fc1": 128, "fc2": 48}
    assert all(len(c) == 2 for c in r.curves.values())
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, m.weights, strict=True))
    loss = tfprune.sensitivity(m, (x, y), levels=(0.99,), progress=False)
    assert loss.curves["fc1"][0] != pytest.approx(loss.baseline)  # pruning changed the loss
    with pytest.raises(errors.ConfigError, match="granularity='channel' is refused"):
        tfprune.sensitivity(m, (x, y), granularity="channel", progress=False)


def test_summary_counts_the_pruned_and_stripped_model():
    p = tfprune.one_shot(_mlp(), 0.5)
    rows = {r["name"]: r for r in tfprune.summary(p, print_fn=None)["layers"]}
    # half of the 8x16 kernel (the biases start at zero)
    assert rows["fc1"]["params"] == 8 * 16 + 16 and rows["fc1"]["nonzero_params"] == 64
    stripped = tfprune.summary(tfprune.strip(p), print_fn=None)
    assert stripped["params"] == 144 + 51 and stripped["nonzero_params"] == 64 + 24

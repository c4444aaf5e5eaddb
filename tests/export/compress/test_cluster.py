"""export/compress/cluster.py: weight clustering (1-D k-means per kernel), zeros kept.
(Moved from test_lut.py; clustered models through the LUT encoding: test_lut.py.)"""

import numpy as np
import pytest

from tfprune import errors


def test_cluster_keeps_zeros_and_limits_values_per_kernel(small_cnn):
    from tfprune.export import cluster
    from tfprune.export.compress.cluster import kmeans_1d

    m = small_cnn(sparsity=0.5)
    before = [w.copy() for w in m.get_weights()]
    c = cluster(m, clusters=16)
    assert c is not m
    for w0, w1, layer in zip(before[::2], c.get_weights()[::2], range(4), strict=True):
        assert np.array_equal(w0 == 0, w1 == 0), layer  # zeros stay, no new zeros
        assert len(np.unique(w1)) <= 16 < len(np.unique(w0))
        assert np.abs(w1 - w0).max() < 0.5 * np.abs(w0).max()
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights(), strict=True))
    assert np.array_equal(before[1], c.get_weights()[1])  # biases untouched
    cent, lab = kmeans_1d(np.r_[np.full(50, -1.0), np.full(50, 2.0)] + 0.01, 2)
    assert np.allclose(cent, [-0.99, 2.01]) and set(lab.tolist()) == {0, 1}
    with pytest.raises(errors.ConfigError, match="clusters"):
        cluster(m, clusters=1)

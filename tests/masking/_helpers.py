"""Helpers of the PruningWrapper tests (test_wrapper.py, test_wrapper_inside.py)."""

import numpy as np

import tfprune


def fit(p, x, y, epochs=1):
    """Compile pruned model ``p`` (adam, mse) and fit it on ``(x, y)`` with the pruning
    callback, batches of 4; returns ``p``."""
    p.compile("adam", "mse")
    p.optimizer.build(p.trainable_variables)  # fit traces its step once, not twice
    p.fit(x, y, batch_size=4, epochs=epochs, verbose=0,
          callbacks=[tfprune.PruningCallback()])
    return p


def assert_close(a, b):
    """Assert two tensors or arrays are equal within 1e-6 (absolute)."""
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)

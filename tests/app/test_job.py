"""tfprune.app.job: the recipe sections over the defaults, and the refusal of a diverged run."""

import numpy as np
import pytest

from tfprune.app import job
from tfprune.compat import keras


def test_section_puts_the_recipe_over_overrides_over_defaults():
    got = job.section({"train": {"epochs": 7}}, "train", epochs=0, batch_size=8)
    assert (got["epochs"], got["batch_size"]) == (7, 8)
    assert got["loss"] == job.DEFAULTS["train"]["loss"]


def test_check_finite_names_the_layer_with_nan_weights():
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
    k, b = m.get_weights()
    m.set_weights([np.full_like(k, np.nan), b])
    with pytest.raises(job.RunFailedError, match="layer 'd' has 2 of 2 NaN/inf"):
        job.check_finite(m, {"loss": [0.5, 0.4]}, "pruning", job.DIVERGED)
    assert job.RunFailedError.exit_code == 1

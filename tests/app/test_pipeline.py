"""tfprune.app.pipeline: a recipe prepared into a job (every check before training)."""

import numpy as np
import pytest

from tests.app.test_run_tasks import _recipe
from tfprune import errors
from tfprune.app import pipeline
from tfprune.compat import keras

L = keras.layers


def test_the_metric_comes_from_the_task(reg):
    job = pipeline.prepare(_recipe(reg))
    assert job.task.kind == "regression" and job.metric == "mae"
    cls = keras.Sequential([keras.Input((6,)), L.Dense(3, activation="softmax")])
    t, metric = pipeline.resolve_metric(cls, np.array([0, 2, 1]), "sparse_categorical_crossentropy")
    assert (t.kind, metric) == ("sparse_categorical", "accuracy")


@pytest.mark.slow
def test_recipe_metric_key_on_a_one_output_model(reg):
    recipe = {"model": str(reg / "reg.keras"), "data": {"source": str(reg / "reg.npz")},
              "metric": "rmse"}
    assert pipeline.prepare(recipe).metric == "rmse"
    with pytest.raises(errors.ConfigError, match="accuracy"):
        pipeline.prepare({**recipe, "metric": "accuracy"})  # cannot apply to regression
    with pytest.raises(errors.ConfigError, match="several outputs"):
        pipeline.prepare({**recipe, "train": {"loss": {"price": "mse"}}})

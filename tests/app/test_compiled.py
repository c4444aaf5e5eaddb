"""tfprune/app/compiled.py: the user's compile state (loss, metric) comes before tfprune's
defaults in the CLI; what cannot apply to the output is skipped, several outputs use the loss."""

from tfprune.app import compiled
from tfprune.compat import keras


def _reg():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="price")])


def _cls():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])


def _two_outputs():
    i = keras.Input((3,))
    return keras.Model(i, [keras.layers.Dense(1, name="a")(i), keras.layers.Dense(1, name="b")(i)])


def test_user_loss_is_the_compiled_loss_by_its_keras_name():
    m = _reg()
    assert compiled.user_loss(m) is None  # not compiled
    m.compile(loss=keras.losses.Huber())
    assert compiled.user_loss(m) == "huber"
    m.compile(loss=keras.losses.mean_absolute_error)
    assert compiled.user_loss(m) == "mean_absolute_error"


def test_user_loss_is_none_for_one_loss_per_output():
    m = _two_outputs()
    m.compile(loss={"a": "mse", "b": "mae"})
    assert compiled.user_loss(m) is None


def test_named_loss_keeps_an_unknown_callable_itself():
    def my_loss(y, p):
        return (y - p) ** 2

    assert compiled.named_loss(my_loss) is my_loss
    assert compiled.named_loss("mse") == "mse"


def test_user_metric_skips_metrics_that_cannot_apply():
    m = _reg()
    m.compile(loss="mse", metrics=[["accuracy"], "mae"])  # accuracy cannot apply to regression
    assert compiled.user_metric(m) == "mae"
    m.compile(loss="mse", metrics=["accuracy"])
    assert compiled.user_metric(m) is None
    m.compile(loss="mse")
    assert compiled.user_metric(m) is None


def test_metric_for_prefers_the_compiled_metric_then_the_tasks_default():
    cls = _cls()
    assert compiled.metric_for(cls) == "accuracy"
    cls.compile(loss="sparse_categorical_crossentropy",
                metrics=["sparse_top_k_categorical_accuracy"])
    assert compiled.metric_for(cls) == "sparse_top_k_categorical_accuracy"
    reg = _reg()
    assert compiled.metric_for(reg) == "loss"  # no compile state, no labels: task unknown
    reg.compile(loss="mse")
    assert compiled.metric_for(reg) == "mae"


def test_metric_for_several_outputs_is_the_total_loss():
    m = _two_outputs()
    m.compile(loss="mse", metrics=["mae"])
    assert compiled.metric_for(m) == "loss" and compiled.user_metric(m) is None

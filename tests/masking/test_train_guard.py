"""masking/train_guard.py: a pruned model's train step without PruningCallback raises
MissingCallbackError; every other error and every unpruned model is left alone."""

import pytest
import tensorflow as tf

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import train_guard


def _failing(message):
    def train_function(iterator):
        raise tf.errors.InvalidArgumentError(None, None, message)

    return train_function


def test_only_the_missing_callback_assertion_is_translated():
    with pytest.raises(errors.MissingCallbackError, match=r"callbacks=\[tfprune"):
        train_guard.guard(_failing("assertion: " + train_guard.MISSING_CALLBACK_MSG))(None)
    with pytest.raises(tf.errors.InvalidArgumentError, match="shapes differ"):
        train_guard.guard(_failing("shapes differ"))(None)
    ok = train_guard.guard(lambda it: it + 1)
    assert ok(1) == 2 and train_guard.guard(ok) is ok and ok.__wrapped__(1) == 2


@pytest.mark.slow
def test_install_guards_pruned_models_only_and_once():
    train_guard.install()
    patched = keras.Model.make_train_function
    train_guard.install()
    assert keras.Model.make_train_function is patched  # idempotent
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    plain.compile("sgd", "mse")
    assert not getattr(plain.make_train_function(), "_tfprune_guarded", False)
    pruned = tfprune.prune(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
                           sparsity=0.5)
    pruned.compile("sgd", "mse")
    assert pruned.make_train_function()._tfprune_guarded  # (fit itself:
    # tests/callbacks/test_missing_callback.py)

"""tfprune/tuning/trial.py: a trial's fine-tuning options, and the sparsity that meets a MAC
fraction (0 for no reduction, without pruning anything). The bisection itself prunes the
model once per step (seconds) and is left out of this fast file."""

import dataclasses

import pytest

from tfprune.compat import keras
from tfprune.tuning import trial


def _model():
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="h"),
                             keras.layers.Dense(2, name="out")])


def test_trial_options_are_frozen_with_documented_defaults():
    opts = trial.TrialOptions()
    assert (opts.loss, opts.metrics, opts.batch_size, opts.log_dir, opts.verbose,
            opts.distill_task, opts.loss_weights) == (None, (), 32, None, 0, "classification",
                                                      None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.batch_size = 8


def test_no_mac_reduction_needs_no_sparsity():
    settings = {"granularity": "weight", "scope": "layer"}
    assert trial.sparsity_for_macs(_model(), 1.0, settings) == 0.0


"""tuning/hparams.py: a sweep's trials logged to TensorBoard's HParams dashboard: the
experiment config once, each trial's values and measures."""

import glob

import keras_tuner as kt
import tensorflow as tf

from tfprune.tuning import hparams


def _events(folder):
    out = []
    for path in glob.glob(f"{folder}/events.out.tfevents.*"):
        out += list(tf.compat.v1.train.summary_iterator(path))
    return out


def test_trial_values_are_cleaned_and_its_measures_are_scalars_at_step_0(tmp_path):
    values = {"sparsity": 0.5, "epochs": 3, "granularity": "channel", "distill": True,
              "shape": (2, 4)}  # a tuple is not an HParams value: left out
    hparams.write_trial(str(tmp_path), "t1", values, {"val_loss": 0.25, "macs": 1000})
    tags = {v.tag: (e.step, v) for e in _events(tmp_path) for v in e.summary.value}
    assert {"val_loss", "macs"} <= set(tags) and tags["val_loss"][0] == 0
    got = tf.make_ndarray(tags["val_loss"][1].tensor)
    assert float(got) == 0.25
    session = next(v for t, (_, v) in tags.items() if t.endswith("session_start_info"))
    text = session.metadata.plugin_data.content
    assert b"sparsity" in text and b"channel" in text and b"shape" not in text


def test_config_lists_the_space_and_the_metrics(tmp_path):
    hp = kt.HyperParameters()
    hp.Choice("granularity", ["weight", "channel"])
    hp.Float("sparsity", 0.3, 0.9)
    hp.Int("epochs", 1, 4)
    hparams.write_config(str(tmp_path), hp, ["val_loss", "macs"])
    (config,) = [v for e in _events(tmp_path) for v in e.summary.value
                 if v.tag.endswith("experiment")]
    text = config.metadata.plugin_data.content
    for name in (b"granularity", b"sparsity", b"epochs", b"val_loss", b"macs"):
        assert name in text

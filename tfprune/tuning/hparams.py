"""TensorBoard HParams logging: one run directory per trial under ``<sweep>/tensorboard``.

Each trial directory holds the trial's hyperparameters (an HParams session) and its
final measures as scalars (step 0); weight-granularity trials add the per-layer
sparsity PruningCallback writes during fine-tuning. The root holds the experiment
config (the hyperparameters and metrics the dashboard lists). Open with
``tensorboard --logdir <directory>/<project_name>/tensorboard``.

Example:
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> write_trial(os.path.join(d, "trial_0"), "0", {"sparsity": 0.5}, {"val_accuracy": 0.9})
    >>> len(os.listdir(os.path.join(d, "trial_0")))
    1
"""

from __future__ import annotations

import numbers

from tfprune import errors

__all__ = ["require", "write_config", "write_trial"]


def require():
    """Import TensorBoard's HParams API or raise a clear error (keras-tuner fails silently)."""
    try:
        from tensorboard.plugins.hparams import api as hp_api
    except ImportError as e:
        raise errors.ConfigError(
            "tensorboard is not installed, so trials cannot be logged to TensorBoard's HParams "
            "dashboard (keras-tuner would otherwise mark every trial FAILED without an error). "
            "Install it (pip install 'tensorboard>=2.21,<2.22') or pass tensorboard=False."
        ) from e
    return hp_api


def _clean(values: dict) -> dict:
    out = {}
    for k, v in values.items():
        if isinstance(v, bool) or isinstance(v, str):
            out[k] = v
        elif isinstance(v, numbers.Integral):
            out[k] = int(v)
        elif isinstance(v, numbers.Real):
            out[k] = float(v)
    return out


def write_config(log_root: str, space, metric_names) -> None:
    """Write the experiment config: the space's hyperparameters and the metric names."""
    import tensorflow as tf

    hp_api = require()
    hparams = []
    for p in space.space:
        cfg = p.get_config()
        kind = type(p).__name__
        if kind == "Choice":
            vals = [v for v in cfg["values"] if not isinstance(v, bool)]
            domain = hp_api.Discrete(vals) if vals else None
        elif kind in ("Int", "Float"):
            ctor = hp_api.IntInterval if kind == "Int" else hp_api.RealInterval
            domain = ctor(cfg["min_value"], cfg["max_value"])
        else:
            domain = None
        hparams.append(hp_api.HParam(p.name, domain))
    metrics = [hp_api.Metric(n, display_name=n) for n in metric_names]
    with tf.summary.create_file_writer(log_root).as_default():
        hp_api.hparams_config(hparams=hparams, metrics=metrics)


def write_trial(log_dir: str, trial_id: str, values: dict, measures: dict) -> None:
    """Write one trial's HParams session and its measures (scalars at step 0)."""
    import tensorflow as tf

    hp_api = require()
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        hp_api.hparams(_clean(values), trial_id=str(trial_id))
        for name, value in measures.items():
            tf.summary.scalar(name, float(value), step=0)
    writer.flush()
    writer.close()

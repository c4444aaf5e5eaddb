"""A tqdm progress bar for ``model.fit`` (tf_keras callback).

Example:
    >>> bar = TqdmProgress(epochs=1, steps=2, desc="demo", disable=True)
    >>> bar.params = {}
"""

from __future__ import annotations

from tqdm.auto import tqdm

from tfprune.compat import keras

__all__ = ["TqdmProgress"]


class TqdmProgress(keras.callbacks.Callback):
    """One bar over all batches of a ``fit`` call, with loss/accuracy in the postfix.

    Args:
        epochs: epochs of the fit call.
        steps: batches per epoch.
        desc: label of the bar.
        disable: no output at all (quiet mode).
    """

    def __init__(self, epochs: int, steps: int, desc: str = "train", disable: bool = False):
        super().__init__()
        self.total = epochs * steps
        self.desc = desc
        self.disable = disable
        self._bar = None

    def on_train_begin(self, logs=None):
        self._bar = tqdm(total=self.total, desc=self.desc, unit="step", disable=self.disable,
                         leave=True, dynamic_ncols=True, mininterval=1.0)

    def on_train_batch_end(self, batch, logs=None):
        self._bar.update(1)
        if logs and batch % 10 == 0:
            self._bar.set_postfix({k: f"{float(v):.3f}" for k, v in logs.items()
                                   if k in ("loss", "accuracy")}, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if logs:
            keep = {k: f"{float(v):.3f}" for k, v in logs.items()
                    if k in ("loss", "accuracy", "val_accuracy", "sparsity")}
            self._bar.set_postfix(keep)

    def on_train_end(self, logs=None):
        self._bar.close()

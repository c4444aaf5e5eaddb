"""tfprune: pruning for tf_keras models, built on TF-MOT."""

__version__ = "0.1.0"

from tfprune import compat  # noqa: F401,E402  (the one documented Keras-compat step)

"""The pure core: masks, criteria and schedules (TensorFlow ops only; no Keras layers,
no variables, no I/O). Everything else imports the core; the core imports nothing above it."""

from tfprune.core import criteria, masks, schedules

__all__ = ["criteria", "masks", "schedules"]

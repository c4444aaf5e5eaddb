"""Internals of structured surgery; the public door is :mod:`tfprune.structured`."""

"""Thin entry points: ``python -m experiments.NAME``. Each builds a config and calls ``prefrl``."""

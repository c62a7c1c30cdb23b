"""The error of a wrong reproduction config, name or override (the lowest module of :mod:`lt_teacher.reproduce`)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A reproduction config, name or override is invalid; the message says what is expected."""

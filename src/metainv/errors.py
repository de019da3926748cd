"""One base class for every error a user can act on.

Each module raises its own subclass (a corrupt store, a failed download, a NaN loss, a bad
spec, ...); ``metainv`` (the CLI) catches :class:`MetainvError` and prints its message instead
of a traceback. Programming errors (TypeError, a failed assertion) stay tracebacks.
"""

from __future__ import annotations


class MetainvError(Exception):
    """Base class of user-facing errors: the message says what is wrong and which file/key."""


class ConfigError(MetainvError, ValueError):
    """A configuration or spec is invalid; the message names the key (``config.experiments.x.y``)."""


__all__ = ["MetainvError", "ConfigError"]

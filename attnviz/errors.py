"""One exception family for everything a user can cause, so pages can catch it and show the message."""

from __future__ import annotations


class AttnvizError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class InputError(AttnvizError, ValueError):
    """The text, pair, settings or file given cannot be used as they are."""


class ModelLoadError(AttnvizError):
    """A model id or directory could not be resolved or loaded."""


class ResourceError(AttnvizError):
    """A request would not fit in memory (or ran out of GPU memory)."""

    def __init__(self, message: str, *, retry_on_cpu: bool = False):
        super().__init__(message)
        self.retry_on_cpu = retry_on_cpu

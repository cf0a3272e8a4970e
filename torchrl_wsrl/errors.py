"""Errors that name a bad input, shared by the layers that read it (a leaf: imports nothing)."""
from __future__ import annotations

__all__ = ["DatasetError", "MissingKeyError"]


class DatasetError(ValueError):
    """An offline dataset whose content cannot be used; the message names the source and key."""


class MissingKeyError(DatasetError, KeyError):
    """A required key is absent; catchable as ``KeyError`` as well as ``ValueError``."""

    def __str__(self) -> str:
        # KeyError's str() is repr(message); keep the readable message.
        return str(self.args[0])

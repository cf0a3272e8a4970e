"""argparse types the commands share: a bad value is refused by argparse in one line naming
the flag (``argument --seeds: must be a positive integer, got 0``)."""
from __future__ import annotations

import argparse

__all__ = ["int_list", "positive_int"]


def positive_int(text: str) -> int:
    """An integer >= 1.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not an integer, or is below 1.
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def int_list(text: str) -> list[int]:
    """Comma-separated integers (``"0,1000,5000"``); ``""`` is the empty list.

    Raises:
        argparse.ArgumentTypeError: an item is not an integer.
    """
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated integers, got {text!r}") from None

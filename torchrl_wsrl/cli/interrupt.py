"""Ctrl-C in the commands: how they recognise it and the exit code they end with."""
from __future__ import annotations

__all__ = ["INTERRUPTED_EXIT_CODE", "interrupted"]

INTERRUPTED_EXIT_CODE = 130  # the shell's code for a process ended by SIGINT


def interrupted(err: BaseException) -> bool:
    """Ctrl-C: a ``KeyboardInterrupt``, or the ``RuntimeError`` ("Converting a tensordict to
    boolean value") that tensordict's ``to_module`` context raises in its place when the
    interrupt lands in a critic call (its ``__exit__`` returns a TensorDict for an exit by
    anything but an ``Exception``, and Python tests that for truth; tensordict 0.14)."""
    return isinstance(err, KeyboardInterrupt) or isinstance(err.__context__, KeyboardInterrupt)

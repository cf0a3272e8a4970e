"""The task registry: every benchmark task of the WSRL paper, plus point-maze, gathered from the
domain modules (:mod:`torchrl_wsrl.domains`, where each task is defined beside its domain's
rules).

A :class:`Task` is pure data (no gymnasium import): which env to build, its episode length,
the reward scale and bias the agent applies, how an episode is scored and where its offline
data lives. :mod:`torchrl_wsrl.envs.factory` turns a task into an env.

Reward scale and bias (``r * scale + bias``) are the authors' per-domain settings (WSRL paper,
appendix; wsrl-algorithm.md "Per-domain settings"). The env itself returns the RAW reward.
"""

from __future__ import annotations

import difflib

from torchrl_wsrl.domains import DOMAINS, Task

__all__ = ["Task", "get_task", "list_tasks"]


def _gather() -> dict[str, Task]:
    registry: dict[str, Task] = {}
    for name, rules in DOMAINS.items():
        for task in rules.tasks:
            if task.name in registry:
                raise ValueError(f"Task {task.name!r} registered twice")
            if task.domain != name:
                raise ValueError(f"Task {task.name!r} of domain {name!r} says domain={task.domain!r}")
            registry[task.name] = task
    return registry


_REGISTRY = _gather()


def list_tasks() -> list[str]:
    """All registered task names, sorted."""
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """The registered :class:`Task` called ``name``.

    Raises:
        KeyError: unknown name; the message lists the closest registered names (or all of them).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f"closest: {close}" if close else f"known tasks: {list_tasks()}"
        raise KeyError(f"Unknown task {name!r}; {hint}") from None

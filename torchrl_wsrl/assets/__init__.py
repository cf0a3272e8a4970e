"""The files shipped inside the package, by task name:

- ``<task>.hdf5``: a small offline dataset (D4RL format), and ``<task>.policy.pt``, the
  behaviour policy that collected it (written by ``wsrl-generate``);
- ``<task>.agent.pt``: a trained agent (actor, critic ensemble, target critics, temperature and
  Adam states: an agent file of :mod:`torchrl_wsrl.checkpoint`), from the authors' pre-training
  run to convergence, and ``<task>.agent.json``, its provenance: the command, the gradient steps,
  the wall time, the commit, the network sizes, the score over 20 evaluation episodes (mean,
  std, lowest and highest) and the critics' Q on those episodes against their MC return.

Provenance and statistics of each: docs/tasks.md.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["ASSETS", "sample_path", "shipped_agent_path", "shipped_agent_info", "shipped_agent_tasks"]

ASSETS = Path(__file__).resolve().parent


def sample_path(task_name: str) -> Path:
    """The offline sample shipped for ``task_name`` (it may not exist: few tasks have one)."""
    return ASSETS / f"{task_name}.hdf5"


def shipped_agent_path(task_name: str) -> Path:
    """The trained agent shipped for ``task_name`` (an agent file, for
    :func:`torchrl_wsrl.load_policy` or ``pretrained_checkpoint=``).

    Raises:
        FileNotFoundError: no agent is shipped for ``task_name`` (the message lists those that are).
    """
    return _shipped(task_name, ".agent.pt")


def shipped_agent_info(task_name: str) -> dict:
    """The provenance of ``task_name``'s shipped agent (``<task>.agent.json``; keys in the
    module docstring).

    Raises:
        FileNotFoundError: no agent is shipped for ``task_name`` (the message lists those that are).
    """
    return json.loads(_shipped(task_name, ".agent.json").read_text())


def _shipped(task_name: str, suffix: str) -> Path:
    path = ASSETS / f"{task_name}{suffix}"
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained agent is shipped for task {task_name!r}; shipped: {', '.join(shipped_agent_tasks()) or 'none'}"
        )
    return path


def shipped_agent_tasks() -> list[str]:
    """The names of the tasks that have a shipped agent, sorted."""
    return sorted(p.name.removesuffix(".agent.pt") for p in ASSETS.glob("*.agent.pt"))

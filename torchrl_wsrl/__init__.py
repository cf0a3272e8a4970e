"""torchrl-wsrl: WSRL (Warm-start RL, Zhou et al., ICLR 2025) on TorchRL.

The public names, imported on first use (``import torchrl_wsrl`` stays light)::

    import torchrl_wsrl as w
    policy = w.load_policy("runs/halfcheetah-medium/wsrl/<run>/final.pt")
    w.make_env("halfcheetah-medium").rollout(1000, policy)

- losses: :class:`CalQLLoss`, :class:`WSRLLoss` (both an :class:`EnsembleSACLoss`);
- modules: :class:`EnsembleQCritic`, :func:`make_actor`, :class:`SamplingPolicy`;
- tasks and envs: :func:`make_env`, :func:`get_task`, :func:`list_tasks`;
- agents: :func:`load_policy` (a trained actor from an agent file), :func:`load_agent` (the
  actor, critics, WSRL loss and optimizers of an agent file, to go on training);
- runs: :class:`Trainer`.
"""
from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("torchrl-wsrl")
except PackageNotFoundError:  # run from a checkout that was not installed
    __version__ = "0.0.0+unknown"

_EXPORTS = {
    "CalQLLoss": "torchrl_wsrl.objectives",
    "EnsembleSACLoss": "torchrl_wsrl.objectives",
    "WSRLLoss": "torchrl_wsrl.objectives",
    "EnsembleQCritic": "torchrl_wsrl.modules",
    "SamplingPolicy": "torchrl_wsrl.modules",
    "make_actor": "torchrl_wsrl.modules",
    "get_task": "torchrl_wsrl.envs",
    "list_tasks": "torchrl_wsrl.envs",
    "make_env": "torchrl_wsrl.envs",
    "load_policy": "torchrl_wsrl.checkpoint",
    "load_agent": "torchrl_wsrl.agent",
    "Trainer": "torchrl_wsrl.training",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'torchrl_wsrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

"""The domains of the WSRL paper (and point-maze), one module each, each exposing one
:class:`~torchrl_wsrl.domains.base.Domain` object, ``DOMAIN``: its tasks, observation keys, step
reward and success rule (with its vectorised twin for offline data), raw failure reward, D4RL /
Minari layouts, normalized-score references and network sizes per scale.

A new domain is one new module here (listed in :data:`DOMAINS`) plus its
``conf/task/_<name>.yaml``; the env factory, the data readers, the generator and the hydra
config ask the domain object and hold no per-domain branch.
"""
from __future__ import annotations

import difflib

from torchrl_wsrl.domains import adroit, antmaze, kitchen, locomotion, pointmaze
from torchrl_wsrl.domains.base import BEHAVIOURS, METRICS, NETWORK_SCALES, Domain, Layout, StepRules, Task

__all__ = ["DOMAINS", "Domain", "Layout", "StepRules", "Task", "get_domain", "BEHAVIOURS", "METRICS", "NETWORK_SCALES"]

DOMAINS: dict[str, Domain] = {
    module.DOMAIN.name: module.DOMAIN for module in (locomotion, antmaze, kitchen, adroit, pointmaze)
}


def get_domain(name: str) -> Domain:
    """The :class:`Domain` called ``name``.

    Raises:
        KeyError: unknown name; the message gives the closest domain names.
    """
    try:
        return DOMAINS[name]
    except KeyError:
        close = difflib.get_close_matches(name, DOMAINS, n=3, cutoff=0.5)
        raise KeyError(f"unknown domain {name!r}; {'closest' if close else 'domains'}: {', '.join(close or DOMAINS)}") from None

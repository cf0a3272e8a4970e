"""Hydra configs of :mod:`torchrl_wsrl.train` (a package so that hydra finds them by module name).

Importing this package stores in hydra's ConfigStore the options of the ``task`` group, one per
task of :mod:`torchrl_wsrl.envs.registry`: ``task=NAME`` composes the settings of the task's
domain (``task/_<domain>.yaml``) and the task's name; and the options of the ``network`` group,
one per network scale (:data:`~torchrl_wsrl.domains.NETWORK_SCALES`), each holding every
domain's hidden layer widths at that scale (:meth:`~torchrl_wsrl.domains.Domain.networks`). The
registry is the one list of tasks and the domain modules the one home of their networks, so a
registered task is a ``task=`` option and a ``task=`` option a registered task by construction;
the yaml files hold only what is set per domain.
Hydra imports this package when it reads ``config.yaml`` from it by module name
(``initialize_config_module("torchrl_wsrl.conf")``), before it looks for the task;
``torchrl_wsrl.train`` imports it for its ``hydra.main``, which reads the files by path.
"""
from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from torchrl_wsrl.domains import DOMAINS, NETWORK_SCALES
from torchrl_wsrl.envs.registry import get_task, list_tasks

__all__ = ["compose_config", "store_schema", "store_tasks", "store_networks"]


def store_schema() -> None:
    """Store the schema (:class:`~torchrl_wsrl.conf.schema.RunConfig`) as ``base_config``, the
    first entry of ``config.yaml``'s defaults: every value composed over it is type-checked, and
    a key it lacks is refused."""
    from torchrl_wsrl.conf.schema import RunConfig

    ConfigStore.instance().store(name="base_config", node=RunConfig)


def store_tasks() -> None:
    """Store every registered task as an option of hydra's ``task`` group: defaults
    ``[_<domain>, _self_]`` (the domain's yaml), then ``name``."""
    store = ConfigStore.instance()
    for name in list_tasks():
        store.store(group="task", name=name, node={"defaults": [f"_{get_task(name).domain}", "_self_"], "name": name})


def store_networks() -> None:
    """Store every network scale as an option of hydra's ``network`` group:
    ``{<domain>: {critic_hidden: [...], actor_hidden: [...]}}`` for every domain."""
    store = ConfigStore.instance()
    for scale in NETWORK_SCALES:
        store.store(group="network", name=scale, node={name: rules.networks(scale) for name, rules in DOMAINS.items()})


store_schema()
store_tasks()
store_networks()


def compose_config(overrides: list[str], *, return_hydra_config: bool = False) -> DictConfig:
    """The run config of ``python -m torchrl_wsrl.train`` with ``overrides`` (hydra's compose,
    hydra syntax: ``["task=hopper-medium", "train.online_steps=1000"]``), with hydra's own
    node (``hydra.run.dir`` ...) if ``return_hydra_config``.

    Raises:
        hydra.errors.HydraException: an override that does not apply to the config.
    """
    from hydra import compose, initialize_config_module

    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=return_hydra_config)

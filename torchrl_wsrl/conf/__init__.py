"""Hydra configs of torchrl_wsrl.train (a package so that hydra can find it by module name)."""
from __future__ import annotations

from omegaconf import DictConfig

__all__ = ["compose_config"]


def compose_config(overrides: list[str]) -> DictConfig:
    """The run config of ``python -m torchrl_wsrl.train`` with ``overrides`` (hydra's compose,
    hydra syntax: ``["task=hopper-medium", "train.online_steps=1000"]``).

    Raises:
        hydra.errors.HydraException: an override that does not apply to the config.
    """
    from hydra import compose, initialize_config_module

    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        return compose("config", overrides=overrides)

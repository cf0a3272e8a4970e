"""Build the actor, the critic ensemble and the losses from the run config; save and restore them."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from omegaconf import DictConfig

from torchrl_wsrl.checkpoint import read_torch_file
from torchrl_wsrl.envs import Task
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, EnsembleSACLoss, WSRLLoss
from torchrl_wsrl.update import make_optimizers

# Loss-state entries that belong to the policy (restored alone by ``algo.init_critic=false``).
POLICY_STATE_PREFIXES = ("actor_network_params", "log_alpha")
POLICY_OPTIMIZERS = ("actor", "alpha")


def network_sizes(cfg: DictConfig, task: Task) -> DictConfig:
    """The hidden layer widths of this run's networks: ``cfg.network[task.domain]``, the entry
    for the task's domain of the chosen ``network`` option (a scale of
    :mod:`torchrl_wsrl.domains`), with ``critic_hidden`` (each critic of the ensemble) and
    ``actor_hidden``, lists of widths.

    Raises:
        omegaconf.errors.ConfigKeyError: the option has no entry for the domain;
        omegaconf.errors.ConfigAttributeError: the config has no ``network`` (one written
            before the group existed). :func:`~torchrl_wsrl.validation.validate_config`
            reports either before any work.
    """
    return cfg.network[task.domain]


def make_critic(cfg: DictConfig, task: Task) -> EnsembleQCritic:
    """The critic ensemble: ``cfg.agent.num_critics`` critics of
    :func:`network_sizes`' ``critic_hidden``, with one output head each or one shared
    (``cfg.critic.head``, ``per_critic`` in configs written before the option)."""
    return EnsembleQCritic(
        task.obs_dim,
        task.action_dim,
        num_critics=cfg.agent.num_critics,
        hidden_sizes=tuple(network_sizes(cfg, task).critic_hidden),
        backend=cfg.critic.backend,
        head=cfg.critic.get("head", "per_critic"),
    )


def make_policy(cfg: DictConfig, task: Task):
    """The tanh-Gaussian actor of :func:`network_sizes`' ``actor_hidden``, its standard
    deviation state-dependent or not as the domain's ``cfg.task.state_dependent_std``."""
    return make_actor(
        task.obs_dim,
        task.action_dim,
        tuple(network_sizes(cfg, task).actor_hidden),
        state_dependent_std=cfg.task.state_dependent_std,
    )


def make_loss(cfg: DictConfig, task: Task, actor, critic, *, regularized: bool) -> EnsembleSACLoss:
    """Cal-QL / CQL (``regularized=True``: pre-training, or the ``calql_*`` online baselines) or
    WSRL's ensemble SAC, with the task's settings (WSRL doc, per-domain table).

    The max target backup is a setting of each loss: ``task.cql.max_target_backup`` (the
    authors' CQL default, on in every domain) and ``task.online_max_target_backup`` (antmaze
    only)."""
    backup = cfg.task.cql.max_target_backup if regularized else cfg.task.online_max_target_backup
    common = dict(
        action_dim=task.action_dim,
        subsample_size=cfg.agent.subsample_size,
        subsample_replace=cfg.agent.subsample_replace,
        backup_entropy=cfg.agent.backup_entropy,
        actor_q_reduction=cfg.agent.actor_q_reduction,
        max_target_backup=backup,
        num_target_actions=cfg.agent.num_target_actions,
        alpha_init=cfg.agent.alpha_init,
        gamma=cfg.agent.gamma,
    )
    if not regularized:
        return WSRLLoss(actor, critic, **common)
    cql = cfg.task.cql
    return CalQLLoss(
        actor,
        critic,
        cql_alpha=cql.alpha,
        cql_lagrange=cql.lagrange,
        cql_target_gap=cql.target_gap,
        cql_alpha_init=cql.alpha_init,
        cql_temperature=cql.temperature,
        importance_sample=cql.importance_sample,
        calibrate=cql.calibrate,
        cql_subsample_size=cfg.agent.cql_subsample_size,
        num_cql_actions=cql.num_actions,
        **common,
    )


def make_optimizers_for(cfg: DictConfig, loss: EnsembleSACLoss, *, online: bool = False) -> dict:
    """Adam per parameter group of ``loss`` (:func:`~torchrl_wsrl.update.make_optimizers`) at
    the run's learning rates; online, the critics learn at ``train.online_lr_critic`` and the
    actor at ``train.online_lr_actor``."""
    t = cfg.train
    return make_optimizers(
        loss, lr_actor=t.online_lr_actor if online else t.lr_actor, lr_critic=t.online_lr_critic if online else t.lr_critic,
        lr_alpha=t.lr_alpha, lr_cql_alpha=t.lr_cql_alpha, capturable=cfg.update_step.cudagraphs,
    )


def write_checkpoint(path: Path, payload: dict) -> Path:
    """``torch.save`` ``payload`` to ``path`` through a temporary file, fsync and a rename, so
    that a crash never leaves a partial file under the final name, and a failed write (a full
    disk) leaves no temporary file behind; refuses to overwrite an existing file.

    Raises:
        FileExistsError: ``path`` exists.
        OSError: the write failed (the message names ``path``).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"checkpoint {path} exists already; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(path)
    except (OSError, RuntimeError) as err:
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not write checkpoint {path}: {err}") from err
    return path


def agent_state(loss: EnsembleSACLoss, optimizers: dict, **extra) -> dict:
    """The agent as a checkpoint holds it: ``{"loss": loss state (actor, critics, target
    critics, temperature, CQL multiplier), "optimizers": Adam states, **extra}``."""
    optimizer_states = {k: o.state_dict() for k, o in optimizers.items()}
    return {"loss": loss.state_dict(), "optimizers": optimizer_states, **extra}


def save_checkpoint(path: Path, loss: EnsembleSACLoss, optimizers: dict, **extra) -> Path:
    """Write :func:`agent_state` to ``path`` (:func:`write_checkpoint`)."""
    return write_checkpoint(path, agent_state(loss, optimizers, **extra))


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``
    (:func:`~torchrl_wsrl.checkpoint.read_torch_file`: ``FileNotFoundError`` if absent,
    ``CheckpointMismatchError`` if unreadable or holding anything but tensors and plain
    containers). Check it against a run with :func:`~torchrl_wsrl.checkpoint.check_agent_state`."""
    return read_torch_file(path, what="checkpoint")


def restore(loss: EnsembleSACLoss, optimizers: dict, checkpoint: dict, *, source: str, policy_only: bool = False) -> None:
    """Load a checkpoint's agent into ``loss`` and ``optimizers`` (WSRL doc, Phase 3: actor,
    critics, target critics, temperature and Adam moments and step counts; the learning rates
    and flags stay this run's, so an online run may set its own). The CQL multiplier of a Cal-QL
    checkpoint is ignored by a WSRL loss. ``policy_only`` restores the actor and temperature
    only (the ``wsrl_policy_only`` ablation).

    Raises:
        ValueError: the checkpoint's networks do not fit this run's (names ``source``).
    """
    state = checkpoint["loss"]
    own = loss.state_dict()
    keep = {
        k: v
        for k, v in state.items()
        if k in own and (not policy_only or k.startswith(POLICY_STATE_PREFIXES))
    }
    mismatched = [k for k, v in keep.items() if own[k].shape != v.shape]
    if mismatched:
        raise ValueError(
            f"{source}: parameters {mismatched[:3]} have shapes {[tuple(keep[k].shape) for k in mismatched[:3]]}, "
            f"this run expects {[tuple(own[k].shape) for k in mismatched[:3]]}: was it trained on another task or network size?"
        )
    loss.load_state_dict(keep, strict=False)
    names = POLICY_OPTIMIZERS if policy_only else optimizers.keys()
    for name in names:
        if name in checkpoint["optimizers"] and name in optimizers:
            optimizer = optimizers[name]
            # Adam's state_dict carries its hyperparameters too: the checkpoint gives the moments
            # and step counts, this run's config the learning rate and flags (``capturable``).
            settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
            optimizer.load_state_dict(checkpoint["optimizers"][name])
            for group, own in zip(optimizer.param_groups, settings):
                group.update(own)

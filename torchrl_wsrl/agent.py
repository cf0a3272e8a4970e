"""Build the actor, the critic ensemble, the losses and their optimizers from the run config
(the files they are saved in: :mod:`torchrl_wsrl.checkpoint`), or from an agent file
(:func:`load_agent`)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig

from torchrl_wsrl.checkpoint import CQL_MULTIPLIER, agent_file_networks, check_agent_state, load_checkpoint, restore
from torchrl_wsrl.envs import Task, get_task
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, EnsembleSACLoss, WSRLLoss
from torchrl_wsrl.update import make_optimizers

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


@dataclass
class Agent:
    """An actor, its critic ensemble, a loss over both (:func:`make_loss`) and the loss's Adam
    optimizers, one per parameter group (:func:`make_optimizers_for`)."""

    actor: torch.nn.Module
    critic: EnsembleQCritic
    loss: EnsembleSACLoss
    optimizers: dict


def build_agent(
    cfg: DictConfig, task: Task, *, regularized: bool, online: bool = False, actor=None, critic=None, device="cpu"
) -> Agent:
    """The agent of a run: the actor and critics (built here unless given, so that phases can
    share them), the loss (Cal-QL / CQL if ``regularized``, else WSRL's ensemble SAC) and its
    optimizers at the rates of pre-training or, ``online``, of the online phase."""
    actor = make_policy(cfg, task).to(device) if actor is None else actor
    critic = make_critic(cfg, task).to(device) if critic is None else critic
    loss = make_loss(cfg, task, actor, critic, regularized=regularized).to(device)
    return Agent(actor, critic, loss, make_optimizers_for(cfg, loss, online=online))


def make_optimizers_for(cfg: DictConfig, loss: EnsembleSACLoss, *, online: bool = False) -> dict:
    """Adam per parameter group of ``loss`` (:func:`~torchrl_wsrl.update.make_optimizers`) at
    the run's learning rates; online, the critics learn at ``train.online_lr_critic`` and the
    actor at ``train.online_lr_actor``."""
    t = cfg.train
    return make_optimizers(
        loss, lr_actor=t.online_lr_actor if online else t.lr_actor, lr_critic=t.online_lr_critic if online else t.lr_critic,
        lr_alpha=t.lr_alpha, lr_cql_alpha=t.lr_cql_alpha, capturable=cfg.update_step.cudagraphs,
    )


def load_agent(path, *, overrides: tuple[str, ...] = (), device="cpu") -> Agent:
    """The agent of any agent file of this package (``pretrained.pt``, ``final.pt``, a shipped
    ``<task>.agent.pt``), ready to go on training online: its actor, its critic ensemble, a
    :class:`~torchrl_wsrl.objectives.WSRLLoss` holding the file's critics, target critics and
    temperature, and the Adam optimizers holding its moments and step counts. The loss and the
    learning rates are the task's in the run config (``wsrl-train task=<task>``), with
    ``overrides`` (hydra ``key=value`` strings) on top; the network sizes are the file's.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointMismatchError: unreadable, holding anything but tensors, or not fitting the
            loss (names the file and the first mismatch).
        ValueError: the file names no registered task, or holds no critics or actor.
    """
    from torchrl_wsrl.conf import compose_config  # the run config: the task's loss settings

    checkpoint = load_checkpoint(path)
    try:
        task = get_task(checkpoint.get("task"))
    except (KeyError, TypeError):
        raise ValueError(f"{path}: names no registered task (task={checkpoint.get('task')!r}); not an agent file of this package") from None
    net = agent_file_networks(checkpoint["loss"])
    cfg = compose_config([
        f"task={task.name}", "pretrained=none", f"agent.num_critics={net['num_critics']}", f"critic.head={net['head']}",
        f"network.{task.domain}.critic_hidden={net['critic_hidden']}", f"network.{task.domain}.actor_hidden={net['actor_hidden']}",
        f"task.state_dependent_std={str(net['state_dependent_std']).lower()}", *overrides,
    ])
    agent = build_agent(cfg, task, regularized=False, online=True, device=device)
    online_state = {**checkpoint, "loss": {k: v for k, v in checkpoint["loss"].items() if k not in CQL_MULTIPLIER}}
    check_agent_state(str(path), online_state, task=task.name, loss=agent.loss, optimizers=agent.optimizers)
    restore(agent.loss, agent.optimizers, online_state, source=str(path))
    return agent

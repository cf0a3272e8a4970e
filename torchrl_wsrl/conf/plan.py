"""What a run does, derived once from its config: :class:`RunPlan`. The validation's
cross-field rules and the trainer both read it, so each rule exists once."""
from __future__ import annotations

import math
from dataclasses import dataclass

from omegaconf import DictConfig

from torchrl_wsrl.assets import shipped_agent_path, shipped_agent_tasks

__all__ = ["RunPlan", "PRETRAINED"]

# Where the agent that the online phase fine-tunes comes from (``pretrained=``): the task's
# shipped agent where it has one, else pre-training (``auto``); the shipped agent; pre-training.
PRETRAINED = ("auto", "shipped", "none")


@dataclass(frozen=True)
class RunPlan:
    """The phases of one run and the numbers they hinge on.

    Attributes:
        pretrain: phase 1 runs (``algo.pretrain`` and no agent file to start from).
        agent_file: the agent file restored instead of pre-training: ``pretrained_checkpoint``,
            else the task's shipped agent (``pretrained=shipped``, or ``auto`` where one is
            shipped); ``None`` when phase 1 runs or the algo does not pre-train.
        agent_source: ``"pretrained_checkpoint"``, ``"shipped"``, ``"pre-training"``, or
            ``"none"`` (an algo that starts from scratch).
        online: phases 2 and 3 run (``train.online_steps > 0``).
        needs_offline_data: the run reads the offline data: to pre-train, or to mix it into the
            online batches (``algo.offline_ratio > 0``).
        warmup_steps: env steps collected before the first update (0 without a warmup).
        update_start: online transitions in the buffer before the first update: the warmup,
            and at least the online share of one batch, ``ceil(online_batch_size * (1 -
            offline_ratio))`` (the authors' ``min_steps_to_update``; WSRL doc, Phase 2). "No
            warmup" is warmup 0 with this rule, not a first update on a buffer of one transition.
        online_loss: ``"wsrl"`` (ensemble SAC) or ``"calql"`` (the pre-training loss, kept).
    """

    pretrain: bool
    agent_file: str | None
    agent_source: str
    online: bool
    needs_offline_data: bool
    warmup_steps: int
    update_start: int
    online_loss: str

    @property
    def from_checkpoint(self) -> bool:
        """The agent is restored from :attr:`agent_file` (phase 1 does not run)."""
        return self.agent_file is not None

    @property
    def regularized_online(self) -> bool:
        """The online loss carries the CQL / Cal-QL regulariser (the ``calql_*`` baselines)."""
        return self.online_loss == "calql"

    @classmethod
    def of(cls, cfg: DictConfig) -> RunPlan:
        """The plan of a valid run config (:func:`~torchrl_wsrl.validation.validate_config`)."""
        algo, train = cfg.algo, cfg.train
        agent_file, source = _agent_file(cfg)
        pretrain = bool(algo.pretrain and agent_file is None)
        warmup_steps = train.warmup_steps if algo.warmup else 0
        return cls(
            pretrain=pretrain,
            agent_file=agent_file,
            agent_source=source,
            online=train.online_steps > 0,
            needs_offline_data=pretrain or algo.offline_ratio > 0,
            warmup_steps=warmup_steps,
            update_start=max(warmup_steps, math.ceil(train.online_batch_size * (1 - algo.offline_ratio))),
            online_loss=algo.online_loss,
        )


def _agent_file(cfg: DictConfig) -> tuple[str | None, str]:
    """The agent file a run starts from, and where it comes from (:attr:`RunPlan.agent_source`).
    Configs written before ``pretrained`` existed pre-train (``none``)."""
    if not cfg.algo.pretrain:
        return None, "none"
    if cfg.pretrained_checkpoint is not None:
        return str(cfg.pretrained_checkpoint), "pretrained_checkpoint"
    if cfg.get("pretrained", "none") in ("auto", "shipped"):
        if cfg.task.name in shipped_agent_tasks():
            return str(shipped_agent_path(cfg.task.name)), "shipped"
    return None, "pre-training"

"""What a run does, derived once from its config: :class:`RunPlan`. The validation's
cross-field rules and the trainer both read it, so each rule exists once."""
from __future__ import annotations

import math
from dataclasses import dataclass

from omegaconf import DictConfig

__all__ = ["RunPlan"]


@dataclass(frozen=True)
class RunPlan:
    """The phases of one run and the numbers they hinge on.

    Attributes:
        pretrain: phase 1 runs (``algo.pretrain`` and no ``pretrained_checkpoint``).
        from_checkpoint: the agent is restored from ``pretrained_checkpoint`` instead.
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
    from_checkpoint: bool
    online: bool
    needs_offline_data: bool
    warmup_steps: int
    update_start: int
    online_loss: str

    @property
    def regularized_online(self) -> bool:
        """The online loss carries the CQL / Cal-QL regulariser (the ``calql_*`` baselines)."""
        return self.online_loss == "calql"

    @classmethod
    def of(cls, cfg: DictConfig) -> RunPlan:
        """The plan of a valid run config (:func:`~torchrl_wsrl.validation.validate_config`)."""
        algo, train = cfg.algo, cfg.train
        from_checkpoint = bool(algo.pretrain and cfg.pretrained_checkpoint is not None)
        pretrain = bool(algo.pretrain and not from_checkpoint)
        warmup_steps = train.warmup_steps if algo.warmup else 0
        return cls(
            pretrain=pretrain,
            from_checkpoint=from_checkpoint,
            online=train.online_steps > 0,
            needs_offline_data=pretrain or algo.offline_ratio > 0,
            warmup_steps=warmup_steps,
            update_start=max(warmup_steps, math.ceil(train.online_batch_size * (1 - algo.offline_ratio))),
            online_loss=algo.online_loss,
        )

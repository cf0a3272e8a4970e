"""The hot path: one update block of WSRL / Cal-QL, written once for both phases.

Per call: split the batch into ``utd_ratio`` minibatches; for each, one critic step followed by
a Polyak update of the target critics; then one actor step and one temperature step on the
whole batch (WSRL doc, Phase 3). Offline pre-training is the same block with ``utd_ratio=1``
and a Cal-QL loss. Nothing here reads a tensor value on the host, so ``torch.compile`` and CUDA
graphs wrap the block as it is (``UpdateStep(compile=..., cudagraphs=...)``).
"""
from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.objectives import SoftUpdate

from torchrl_wsrl.objectives.wsrl import WSRLLoss


CRITIC_PHASE = ("critic", "cql_alpha")


def make_optimizers(
    loss: WSRLLoss,
    *,
    lr_actor: float = 1e-4,
    lr_critic: float = 3e-4,
    lr_alpha: float = 1e-4,
    lr_cql_alpha: float = 3e-4,
    capturable: bool = False,
) -> dict[str, torch.optim.Adam]:
    """One Adam optimizer per parameter group of ``loss`` (``critic``, ``actor``, ``alpha`` and,
    for Lagrange Cal-QL, ``cql_alpha``).

    Learning rates are the authors' (WSRL doc, Phase 3); no weight decay, no gradient clipping.
    ``capturable=True`` keeps Adam's step counter on the device, as CUDA graphs need. Separate
    optimizers keep the critic's Adam state loadable across losses (Cal-QL -> WSRL).
    """
    lrs = {"critic": lr_critic, "actor": lr_actor, "alpha": lr_alpha, "cql_alpha": lr_cql_alpha}
    return {
        name: torch.optim.Adam(params, lr=lrs[name], capturable=capturable)
        for name, params in loss.parameter_groups().items()
    }


def _descend(optimizers: list[torch.optim.Optimizer], loss: torch.Tensor) -> None:
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for optimizer in optimizers:
        optimizer.step()


def _total_loss(out: TensorDictBase) -> torch.Tensor:
    return sum(value for key, value in out.items() if key.startswith("loss_"))


class UpdateStep:
    """One UTD block: ``utd_ratio`` x (critic step + Polyak), then actor and temperature steps.

    Args:
        loss: a :class:`WSRLLoss` or :class:`CalQLLoss`.
        optimizers: from :func:`make_optimizers`.
        utd_ratio: critic updates per call (4 online, 1 offline); the batch size must be a
            multiple of it (1024 -> 4 x 256).
        tau: Polyak coefficient of the target critics (0.005), applied after every critic step.
        compile: wrap the block in ``torch.compile``.
        cudagraphs: capture the (compiled) block as a CUDA graph with tensordict's
            ``CudaGraphModule`` (CUDA only; optimizers must be ``capturable``).

    Calling it with a batch ``[utd_ratio * minibatch]`` returns a TensorDict of detached scalar
    metrics (losses, Q mean, temperature...) still on the device: read them only when logging.
    """

    def __init__(
        self,
        loss: WSRLLoss,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        utd_ratio: int = 1,
        tau: float = 0.005,
        compile: bool = False,
        cudagraphs: bool = False,
    ):
        if utd_ratio < 1:
            raise ValueError(f"utd_ratio must be >= 1, got {utd_ratio}")
        self.loss = loss
        self.optimizers = optimizers
        self._critic_optimizers = [opt for name, opt in optimizers.items() if name in CRITIC_PHASE]
        self.utd_ratio = utd_ratio
        self.target_updater = SoftUpdate(loss, tau=tau)
        block = self.block
        if compile:
            block = torch.compile(block)
        if cudagraphs:
            from tensordict.nn import CudaGraphModule

            block = CudaGraphModule(block, in_keys=[], out_keys=[], warmup=5)
        self._block = block

    def __call__(self, batch: TensorDictBase) -> TensorDict:
        if batch.shape[0] % self.utd_ratio:
            raise ValueError(f"batch size {batch.shape[0]} is not a multiple of utd_ratio={self.utd_ratio}")
        return self._block(batch)

    def block(self, batch: TensorDictBase) -> TensorDict:
        """The update block itself (eager); :meth:`__call__` runs it, compiled if configured."""
        critic_logs = []
        for minibatch in batch.reshape(self.utd_ratio, -1).unbind(0):
            out = self.loss.critic_loss(minibatch)
            _descend(self._critic_optimizers, _total_loss(out))
            self.target_updater.step()
            critic_logs.append(out.detach())
        loss_actor, log_prob = self.loss.actor_loss(batch)
        _descend([self.optimizers["actor"]], loss_actor)
        loss_alpha = self.loss.alpha_loss(log_prob)
        _descend([self.optimizers["alpha"]], loss_alpha)
        metrics = torch.stack(critic_logs).mean(0)
        metrics.update(
            {
                "loss_actor": loss_actor.detach(),
                "loss_alpha": loss_alpha.detach(),
                "alpha": self.loss.alpha.detach(),
                "entropy": -log_prob.detach().mean(),
            }
        )
        return metrics

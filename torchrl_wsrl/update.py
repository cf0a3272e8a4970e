"""The hot path: one update block of WSRL / Cal-QL, written once for both phases.

Per call: split the batch into ``utd_ratio`` minibatches; for each, one critic step followed by
a Polyak update of the target critics; then one actor and one temperature step on the whole
batch (WSRL doc, Phase 3). Offline pre-training is the same block with ``utd_ratio=1`` and a
Cal-QL loss. Nothing here reads a tensor value on the host, so ``torch.compile`` and CUDA graphs
wrap the pieces as they are (``UpdateStep(compile=..., cudagraphs=...)``), LeanRL-style.

What is compiled, and why (measured on a 2-core AMD EPYC, 1 thread unless said, hopper sizes,
10 critics 2x256; figures in benchmarks/RESULTS.md):

- The losses, forward and (through AOTAutograd) backward, with ``fullgraph=True``: no graph
  break, one graph per loss, and the LayerNorm / ReLU / CQL element-wise chains fused (with 2
  threads: the online block 99 -> 82 ms, the Cal-QL update 485 -> 293 ms).
- Not the optimizer steps. ``fused=True`` Adam steps all critic tensors in 0.4 ms on the CPU,
  against 1.1 ms compiled (plus ~12 s of compilation per optimizer) and 7.9 ms for the default
  for-loop Adam; on CUDA it is one multi-tensor kernel, capturable in a CUDA graph. Compiling
  ``backward()`` and ``step()`` into the function would also cost graph breaks by PyTorch's
  design (``Optimizer.step`` breaks the graph on purpose) and 4x the compilation time (80 s
  against 20 s).
- Not the Polyak update (0.25 ms eager, 0.18 ms compiled for ~8 s of compilation).
"""
from __future__ import annotations

import functools

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.objectives import SoftUpdate

from torchrl_wsrl.objectives.ensemble_sac import EnsembleSACLoss

PRECISIONS = ("fp32", "tf32", "bf16")
CRITIC_PHASE = ("critic", "cql_alpha")
ACTOR_PHASE = ("actor", "alpha")


def make_optimizers(
    loss: EnsembleSACLoss,
    *,
    lr_actor: float = 1e-4,
    lr_critic: float = 3e-4,
    lr_alpha: float = 1e-4,
    lr_cql_alpha: float = 3e-4,
    capturable: bool = False,
) -> dict[str, torch.optim.Adam]:
    """One fused Adam optimizer per parameter group of ``loss`` (``critic``, ``actor``, ``alpha``
    and, for Lagrange Cal-QL, ``cql_alpha``).

    Learning rates are the authors' (WSRL doc, Phase 3); no weight decay, no gradient clipping.
    ``fused=True`` (one kernel per step on CPU and CUDA, 20x faster than the default for-loop
    Adam on the CPU) keeps Adam's step counter on the parameters' device; ``capturable=True``
    lets the step run inside a CUDA graph. Separate optimizers keep the critic's Adam state
    loadable across losses (Cal-QL -> WSRL).
    """
    lrs = {"critic": lr_critic, "actor": lr_actor, "alpha": lr_alpha, "cql_alpha": lr_cql_alpha}
    return {
        name: torch.optim.Adam(params, lr=lrs[name], fused=True, capturable=capturable)
        for name, params in loss.parameter_groups().items()
    }


def _descend(optimizers: list[torch.optim.Optimizer], loss: torch.Tensor) -> None:
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for optimizer in optimizers:
        optimizer.step()


def polyak_updater(loss: EnsembleSACLoss, tau: float) -> SoftUpdate:
    """TorchRL's ``SoftUpdate`` (Polyak averaging ``theta' <- (1 - tau) theta' + tau theta``)
    over ``loss``'s target parameters, which it leaves exactly as it found them.

    ``SoftUpdate``'s constructor copies the online parameters into the targets; an update step
    built after restoring a checkpoint would otherwise throw the restored target critics away
    (the authors restore the whole agent, targets included; WSRL doc, Phase 3).
    """
    targets = {name: params.data.clone() for name, params in loss.named_children() if name.startswith("target_")}
    updater = SoftUpdate(loss, tau=tau)
    for name, saved in targets.items():
        getattr(loss, name).data.update_(saved)
    return updater


class UpdateStep:
    """One UTD block: ``utd_ratio`` x (critic step + Polyak), then actor and temperature steps.

    Args:
        loss: an :class:`EnsembleSACLoss` (:class:`WSRLLoss` or :class:`CalQLLoss`).
        optimizers: from :func:`make_optimizers`.
        utd_ratio: critic updates per call (4 online, 1 offline); the batch size must be a
            multiple of it (1024 -> 4 x 256).
        tau: Polyak coefficient of the target critics (0.005), applied after every critic step.
        compile: compile the losses with ``torch.compile(fullgraph=True)`` (see the module
            docstring for what is compiled and why). The first call compiles (30-40 s on a
            2-core CPU with a cold inductor cache); later calls with batches of the same
            shapes do not recompile.
        compile_mode: ``torch.compile`` mode, e.g. ``"max-autotune-no-cudagraphs"``.
        cudagraphs: capture each critic step and the actor step as CUDA graphs with
            tensordict's ``CudaGraphModule`` (after 3 eager or compiled warm-up calls).
        precision: ``"fp32"`` (default), ``"tf32"`` (float32 everywhere; the process-wide TF32
            switch for CUDA matmuls is :func:`~torchrl_wsrl.runtime.set_tf32`) or
            ``"bf16"``: the losses (critic and actor forward passes, hence their matmuls and
            the backward through them) under ``torch.autocast(dtype=torch.bfloat16)``, with
            float32 parameters, gradients and Adam states; the loss values and metrics come
            out in float32.

    Attributes:
        behavior_cloning: while True, the actor step takes the loss's behaviour-cloning actor
            loss (:meth:`EnsembleSACLoss.bc_actor_loss`) instead of the SAC one: the BC warm start of
            pre-training (``train.bc_steps``). Each variant has its own compiled graph and CUDA
            graph.

    Raises:
        ValueError: ``utd_ratio < 1``, an unknown ``precision``, or ``cudagraphs`` with
            optimizers that are not ``capturable``.
        RuntimeError: ``cudagraphs`` without a CUDA device.

    Calling it with a batch ``[utd_ratio * minibatch]`` returns a TensorDict of detached scalar
    metrics (losses, Q mean, temperature...) still on the device: read them only when logging.
    """

    def __init__(
        self,
        loss: EnsembleSACLoss,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        utd_ratio: int = 1,
        tau: float = 0.005,
        compile: bool = False,
        compile_mode: str | None = None,
        cudagraphs: bool = False,
        precision: str = "fp32",
    ):
        if utd_ratio < 1:
            raise ValueError(f"utd_ratio must be >= 1, got {utd_ratio}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.loss = loss
        self.utd_ratio = utd_ratio
        self.behavior_cloning = False
        self.target_updater = polyak_updater(loss, tau)
        self._critic_optimizers = [opt for name, opt in optimizers.items() if name in CRITIC_PHASE]
        self._actor_optimizers = [opt for name, opt in optimizers.items() if name in ACTOR_PHASE]
        # Actor losses and steps by behaviour cloning off / on: two graphs, each compiled and
        # captured on first use, so that switching never replays the other one.
        self._critic_losses = self.critic_losses
        self._actor_losses = {False: self.actor_losses, True: self.bc_actor_losses}
        if precision == "bf16":  # fp32 / tf32: the losses as they are, nothing added per call
            autocast = functools.partial(torch.autocast, next(loss.parameters()).device.type, dtype=torch.bfloat16)
            self._critic_losses = _under(autocast, self._critic_losses)
            self._actor_losses = {bc: _under(autocast, fn) for bc, fn in self._actor_losses.items()}
        if compile:
            self._critic_losses = torch.compile(self._critic_losses, fullgraph=True, mode=compile_mode)
            self._actor_losses = {
                bc: torch.compile(fn, fullgraph=True, mode=compile_mode) for bc, fn in self._actor_losses.items()
            }
        self._critic_step = self.critic_step
        self._actor_steps = {bc: functools.partial(self.actor_step, behavior_cloning=bc) for bc in (False, True)}
        if cudagraphs:
            _check_cudagraphs(optimizers)
            from tensordict.nn import CudaGraphModule

            self._critic_step = CudaGraphModule(self.critic_step, in_keys=[], out_keys=[], warmup=3)
            self._actor_steps = {
                bc: CudaGraphModule(step, in_keys=[], out_keys=[], warmup=3) for bc, step in self._actor_steps.items()
            }

    def __call__(self, batch: TensorDictBase) -> TensorDict:
        if batch.shape[0] % self.utd_ratio:
            raise ValueError(f"batch size {batch.shape[0]} is not a multiple of utd_ratio={self.utd_ratio}")
        critic_metrics = [self._critic_step(minibatch) for minibatch in batch.reshape(self.utd_ratio, -1).unbind(0)]
        return torch.stack(critic_metrics).mean(0).update(self._actor_steps[self.behavior_cloning](batch))

    def critic_step(self, minibatch: TensorDictBase) -> TensorDict:
        """One critic (and CQL multiplier) gradient step on ``minibatch``, then Polyak averaging."""
        loss, metrics = self._critic_losses(minibatch)
        _descend(self._critic_optimizers, loss)
        self.target_updater.step()
        return metrics

    def actor_step(self, batch: TensorDictBase, behavior_cloning: bool = False) -> TensorDict:
        """One actor and one temperature gradient step on ``batch``.

        The two losses share one backward: they touch disjoint parameters (the actor loss reads
        the temperature detached, the temperature loss reads ``log_prob`` detached).
        """
        loss, metrics = self._actor_losses[behavior_cloning](batch)
        _descend(self._actor_optimizers, loss)
        return metrics

    def critic_losses(self, minibatch: TensorDictBase) -> tuple[torch.Tensor, TensorDict]:
        """``(sum of the critic-phase losses, detached metrics)``: the compiled part of a critic step."""
        out = self.loss.critic_loss(minibatch)
        return sum(value for key, value in out.items() if key.startswith("loss_")), out.detach()

    def actor_losses(self, batch: TensorDictBase) -> tuple[torch.Tensor, TensorDict]:
        """``(loss_actor + loss_alpha, detached metrics)``: the compiled part of the actor step."""
        return self._actor_phase(*self.loss.actor_loss(batch))

    def bc_actor_losses(self, batch: TensorDictBase) -> tuple[torch.Tensor, TensorDict]:
        """As :meth:`actor_losses`, with the behaviour-cloning actor loss (BC warm start)."""
        return self._actor_phase(*self.loss.bc_actor_loss(batch))

    def _actor_phase(self, loss_actor: torch.Tensor, log_prob: torch.Tensor) -> tuple[torch.Tensor, TensorDict]:
        loss_alpha = self.loss.alpha_loss(log_prob)
        metrics = TensorDict(
            {
                "loss_actor": loss_actor.detach(),
                "loss_alpha": loss_alpha.detach(),
                "alpha": self.loss.alpha.detach(),
                "entropy": -log_prob.detach().mean(),
            }
        )
        return loss_actor + loss_alpha, metrics


def _under(context, fn):
    """``fn`` run inside ``context()``, its outputs cast back to float32 (loss and metrics)."""

    @functools.wraps(fn)
    def wrapped(*args):
        with context():
            loss, metrics = fn(*args)
        return loss.float(), metrics.apply(lambda t: t.float())

    return wrapped


def _check_cudagraphs(optimizers: dict[str, torch.optim.Optimizer]) -> None:
    if not torch.cuda.is_available():
        raise RuntimeError("update_step.cudagraphs=true needs a CUDA device; none is available here")
    for name, optimizer in optimizers.items():
        if not all(group["capturable"] for group in optimizer.param_groups):
            raise ValueError(
                f"update_step.cudagraphs=true needs capturable optimizers, but {name!r} is not: "
                "build them with make_optimizers(..., capturable=True)"
            )

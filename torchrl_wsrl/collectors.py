"""The one collector factory: every env step the project takes (warmup, online phase, data
generation) goes through TorchRL's :class:`~torchrl.collectors.Collector` built here."""
from __future__ import annotations

import torch
from torchrl.collectors import Collector
from torchrl.envs import EnvBase

__all__ = ["make_collector"]


def make_collector(
    env: EnvBase,
    policy,
    *,
    total_frames: int,
    frames_per_batch: int = 1,
    random_frames: int = 0,
    device: torch.device | str | None = None,
) -> Collector:
    """A single-process TorchRL collector of ``env`` under ``policy``.

    Args:
        env: the TorchRL env (its generator seeded by :func:`~torchrl_wsrl.envs.make_env`).
        policy: a TensorDict policy (sampling: the collector runs under TorchRL's default
            exploration type, ``RANDOM``), or ``None`` for uniform actions throughout.
        total_frames: env steps in all.
        frames_per_batch: env steps per yielded batch (1 online: one UTD block per env step,
            WSRL doc, Phase 3).
        random_frames: the first env steps take uniform actions (``init_random_frames``; the
            ``random`` warmup policy and SAC's random start).
        device: where the batches land.

    Raises:
        ValueError: ``total_frames`` or ``frames_per_batch`` not positive, or
            ``random_frames`` negative.
    """
    if total_frames <= 0 or frames_per_batch <= 0:
        raise ValueError(f"total_frames and frames_per_batch must be positive, got {total_frames} and {frames_per_batch}")
    if random_frames < 0:
        raise ValueError(f"random_frames must be >= 0, got {random_frames}")
    if policy is None:
        random_frames = total_frames
    # TorchRL's collector may run the policy once while it is built, to find its output keys:
    # that draw is taken from a forked generator, so that building a collector leaves the run's
    # random stream as it was, whatever the policy.
    cuda = device is not None and torch.device(device).type == "cuda"
    with torch.random.fork_rng(devices=[torch.device(device).index or 0] if cuda else []):
        return Collector(
            env,
            policy,
            frames_per_batch=frames_per_batch,
            total_frames=total_frames,
            init_random_frames=random_frames or None,
            device=device,
            # The policies here are feed-forward: no InitTracker (or other policy transform) needed.
            auto_register_policy_transforms=False,
        )

"""Replay buffers: an online buffer that starts empty and gates sampling on the warmup.

WSRL keeps no offline data (WSRL doc, Phase 2): the online buffer is fresh, the restored policy
fills it for ``warmup_steps`` env steps, and only then may the update step sample it. Baselines
that retain offline data mix it in with TorchRL's ``OfflineToOnlineReplayBuffer``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from tensordict import TensorDictBase
from torchrl.data import LazyTensorStorage, ReplayBuffer
from torchrl.data.replay_buffers.offline_to_online import OfflineToOnlineReplayBuffer
from torchrl.envs.transforms import Transform

from torchrl_wsrl.data.returns import mc_returns
from torchrl_wsrl.rewards import scale_reward

SOURCE_OFFLINE = 0
SOURCE_ONLINE = 1

TRANSITION_KEYS = (
    "observation",
    "action",
    ("next", "observation"),
    ("next", "reward"),
    ("next", "terminated"),
    ("next", "truncated"),
    ("next", "done"),
    "mc_return",
)


class WarmupNotCompleteError(RuntimeError):
    """Raised when the online buffer is sampled before ``warmup_steps`` env steps were written."""


class WarmupReplayTransform(Transform):
    """Replay-buffer transform that stamps transitions on write and gates sampling on read.

    On write (``inv``), every transition gets ``source`` (int64 ``[B]``: 0 offline, 1 online) and
    ``collected_at`` (int64 ``[B]``: the env step at which it was collected, counting from 0 at the
    first online write; -1 for offline data). On read, sampling before ``warmup_steps``
    online transitions were written raises :class:`WarmupNotCompleteError`. The counter is a
    host integer: no device sync.

    Args:
        warmup_steps: K, the number of env steps of the warmup (5,000 in the paper).
        source: the tag written on ``inv`` (``SOURCE_ONLINE`` by default).
    """

    def __init__(self, warmup_steps: int, source: int = SOURCE_ONLINE):
        super().__init__(in_keys=[], out_keys=["source", "collected_at"])
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = warmup_steps
        self.source = source
        self.env_steps = 0

    @property
    def warmup_complete(self) -> bool:
        return self.env_steps >= self.warmup_steps

    def _inv_call(self, tensordict: TensorDictBase) -> TensorDictBase:
        n = tensordict.numel()
        shape = tensordict.batch_size
        device = tensordict.device
        if self.source == SOURCE_ONLINE:
            stamp = torch.arange(self.env_steps, self.env_steps + n, device=device).reshape(shape)
            self.env_steps += n
        else:
            stamp = torch.full(shape, -1, dtype=torch.long, device=device)
        tensordict.set("collected_at", stamp)
        tensordict.set("source", torch.full(shape, self.source, dtype=torch.long, device=device))
        return tensordict

    def _call(self, tensordict: TensorDictBase) -> TensorDictBase:
        if not self.warmup_complete:
            raise WarmupNotCompleteError(
                f"the online buffer was sampled after {self.env_steps} of {self.warmup_steps} warmup env "
                "steps: WSRL takes no gradient step before the warmup completes"
            )
        return tensordict

    forward = _call

    # The counter is a host integer, not a tensor: ``nn.Module``'s extra state carries it in
    # every ``state_dict`` that holds this transform (a ``ReplayBuffer``'s included).
    def get_extra_state(self) -> dict:
        return {"env_steps": self.env_steps, "warmup_steps": self.warmup_steps}

    def set_extra_state(self, state: dict) -> None:
        if state["warmup_steps"] != self.warmup_steps:
            raise ValueError(
                f"the saved warmup transform gates {state['warmup_steps']} warmup env steps, this one {self.warmup_steps}"
            )
        self.env_steps = int(state["env_steps"])


def as_transitions(tensordict: TensorDictBase, *, reward_scale: float = 1.0, reward_bias: float = 0.0) -> TensorDictBase:
    """Collected env steps -> stored transitions: the ``TRANSITION_KEYS`` only, flat, reward scaled.

    The reward transform ``r * reward_scale + reward_bias`` is the one applied to the offline
    data (WSRL doc, per-domain table). A transition carries no MC return yet: ``mc_return`` is
    ``-inf`` (a no-op in Cal-QL's calibration ``max(Q, mc_return)``) until
    :class:`EpisodeMCReturns` fills it in when its episode ends.
    """
    td = tensordict.reshape(-1)
    if "mc_return" not in td.keys():
        td = td.set("mc_return", torch.full((td.numel(), 1), float("-inf"), device=td.device))
    td = td.select(*TRANSITION_KEYS)
    td.set(("next", "reward"), scale_reward(td.get(("next", "reward")), reward_scale, reward_bias))
    return td


class EpisodeMCReturns:
    """Holds the online transitions of the episode in progress and releases each episode whole,
    with the MC return-to-go of its every step, when it ends: the authors' MC replay buffer, so
    that online Cal-QL keeps calibrating on online data (WSRL doc, Phase 2).

    Called with the flat, reward-scaled transitions of a collector batch ``[T]`` (from
    :func:`as_transitions`), it returns the transitions of the episodes that ended in it, in
    order and with ``mc_return`` ``[N, 1]`` set (:func:`~torchrl_wsrl.data.mc_returns`: no
    bootstrap at a time limit, the sparse all-failure rule with ``sparse_failure_reward``), or
    ``None`` while no episode has ended. Reads ``("next", "done")`` on the host: one sync per
    collector batch, outside the update step.
    """

    def __init__(self, gamma: float, *, sparse_failure_reward: float | None = None):
        self.gamma = gamma
        self.sparse_failure_reward = sparse_failure_reward
        self._pending: list[TensorDictBase] = []

    def __call__(self, transitions: TensorDictBase) -> TensorDictBase | None:
        self._pending.append(transitions)
        done = transitions.get(("next", "done")).reshape(-1)
        if not done.any():
            return None
        pending = torch.cat(self._pending)
        ends = pending.get(("next", "done")).reshape(-1)
        last_end = int(ends.nonzero()[-1]) + 1
        episodes, rest = pending[:last_end], pending[last_end:]
        self._pending = [rest] if rest.numel() else []
        returns = mc_returns(
            episodes.get(("next", "reward")).reshape(-1),
            ends[:last_end],
            self.gamma,
            sparse_failure_reward=self.sparse_failure_reward,
        )
        episodes.set("mc_return", returns.to(episodes.device).reshape(-1, 1))
        return episodes


class OnlineReplay(NamedTuple):
    """What :func:`make_replay_buffer` builds: the buffer to extend and sample, its warmup gate,
    and the storage of the online transitions alone (for diagnostics)."""

    buffer: ReplayBuffer | OfflineToOnlineReplayBuffer
    warmup: WarmupReplayTransform
    online_storage: LazyTensorStorage


def _shuffle(batch: TensorDictBase) -> TensorDictBase:
    # OfflineToOnlineReplayBuffer returns [offline..., online...]; the update step slices the
    # batch into UTD minibatches, each of which must mix both sources at the same ratio.
    return batch[torch.randperm(batch.shape[0], device=batch.device)]


def make_replay_buffer(
    *,
    capacity: int,
    batch_size: int,
    warmup_steps: int,
    offline_data: TensorDictBase | None = None,
    offline_ratio: float = 0.0,
    device: torch.device | str = "cpu",
) -> OnlineReplay:
    """The online replay buffer (and its warmup transform) of the online phase.

    With ``offline_ratio == 0`` (WSRL) it is a fresh, empty TorchRL ``ReplayBuffer``; with
    ``0 < offline_ratio < 1`` an ``OfflineToOnlineReplayBuffer`` whose offline part holds
    ``offline_data`` (stamped ``source=0``) and draws ``round(offline_ratio * batch_size)`` of
    each batch from it.

    Raises:
        ValueError: ``offline_ratio`` outside ``[0, 1)``, or ``> 0`` without ``offline_data``.
    """
    if not 0.0 <= offline_ratio < 1.0:
        raise ValueError(f"offline_ratio must be in [0, 1), got {offline_ratio}")
    warmup = WarmupReplayTransform(warmup_steps)
    storage = LazyTensorStorage(capacity, device=device)
    if offline_ratio == 0.0:
        return OnlineReplay(ReplayBuffer(storage=storage, batch_size=batch_size, transform=warmup), warmup, storage)
    if offline_data is None:
        raise ValueError("offline_ratio > 0 needs offline_data")
    offline = ReplayBuffer(storage=LazyTensorStorage(offline_data.numel(), device=device))
    offline.extend(WarmupReplayTransform(0, source=SOURCE_OFFLINE).inv(offline_data.select(*TRANSITION_KEYS).clone()))
    mixed = OfflineToOnlineReplayBuffer(
        offline, online_storage=storage, offline_fraction=offline_ratio, batch_size=batch_size, transform=_shuffle
    )
    mixed.online_buffer.append_transform(warmup)
    return OnlineReplay(mixed, warmup, storage)

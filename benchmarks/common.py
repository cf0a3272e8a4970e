"""Shapes, builders, the timing helper and the matmul FLOP count shared by the benchmark files
(settings: conftest.py).

Environment:
    BENCH_THREADS: intra-op CPU threads (default 2, the cores of the reference machine).
    BENCH_QUICK: ``1`` runs every benchmark on tiny shapes with 2 rounds, to check that the files
        work (CI); its figures mean nothing.
    BENCH_ROUNDS: ``N`` runs every benchmark at its full shapes with N rounds after 1 warm-up
        round: a short check of a full-size run (its figures are noisier).
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import pytest
import torch
from tensordict import TensorDict
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, WSRLLoss
from support import random_transitions
from torchrl_wsrl.update import UpdateStep, make_optimizers

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
QUICK = os.environ.get("BENCH_QUICK", "0") == "1"
ROUNDS = int(os.environ["BENCH_ROUNDS"]) if "BENCH_ROUNDS" in os.environ else None
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

NUM_CRITICS = 10
# Critic trunks per domain (WSRL doc, per-domain table) with the observation / action sizes of
# a task of the domain (hopper, antmaze, kitchen).
DOMAINS = {
    "locomotion-2x256": ((256, 256), 11, 3),
    "antmaze-4x256": ((256,) * 4, 29, 8),
    "kitchen-adroit-3x512": ((512,) * 3, 59, 9),
}
HOPPER = 11, 3
ONLINE_BATCH, UTD_RATIO = 1024, 4
OFFLINE_BATCH, NUM_CQL_ACTIONS = 256, 10  # 3 x 10 out-of-distribution actions per state
if QUICK:
    DOMAINS = {name: (tuple(32 for _ in hidden), obs, act) for name, (hidden, obs, act) in DOMAINS.items()}
    ONLINE_BATCH, OFFLINE_BATCH = 64, 16
HIDDEN = DOMAINS["locomotion-2x256"][0]

BLOCKS = {  # WSRL's update blocks: loss class, loss keywords, batch size, UTD ratio
    "online": (WSRLLoss, {}, ONLINE_BATCH, UTD_RATIO),
    # Pre-training as the authors run it: the max target backup, and the CQL regulariser over
    # 2 drawn critics (only those evaluated on the proposals); "calql-all": over all 10.
    "calql": (CalQLLoss, {"num_cql_actions": NUM_CQL_ACTIONS, "max_target_backup": True}, OFFLINE_BATCH, 1),
    "calql-all": (CalQLLoss, {"num_cql_actions": NUM_CQL_ACTIONS, "max_target_backup": True, "cql_subsample_size": None}, OFFLINE_BATCH, 1),
    "single": (WSRLLoss, {}, OFFLINE_BATCH, 1),
}
GROUPS = {
    "online": f"online block: batch {ONLINE_BATCH}, UTD {UTD_RATIO}",
    "calql": f"Cal-QL update: batch {OFFLINE_BATCH}, {3 * NUM_CQL_ACTIONS} OOD actions",
    "calql-all": f"Cal-QL update: batch {OFFLINE_BATCH}, {3 * NUM_CQL_ACTIONS} OOD actions",
    "single": f"single update: batch {OFFLINE_BATCH}",
}

# The peer benchmarks' measurements (pytest-benchmark's stats objects), for the summary that
# conftest.py prints at the end of the run.
MEASURED = pytest.StashKey[list]()

needs_cuda = pytest.mark.skipif(DEVICE.type != "cuda", reason="not measured: no GPU lent to this task")


def sync() -> None:
    """Wait for queued GPU work so that a timed call includes it (a no-op on the CPU)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def make_batch(batch_size: int, obs_dim: int, action_dim: int) -> TensorDict:
    """A random replay batch with every key the losses read, on ``DEVICE`` (1% terminal)."""
    return random_transitions(batch_size, obs_dim, action_dim, terminated_fraction=0.01, device=DEVICE)


def make_networks(obs_dim: int, action_dim: int, hidden=HIDDEN, *, backend: str = "eager"):
    """WSRL's actor and 10-critic ensemble (LayerNorm trunks) on ``DEVICE``."""
    torch.manual_seed(0)
    actor = make_actor(obs_dim, action_dim, hidden).to(DEVICE)
    critic = EnsembleQCritic(obs_dim, action_dim, NUM_CRITICS, hidden, backend=backend).to(DEVICE)
    return actor, critic


def make_update(block: str, *, backend: str = "eager", **update_kwargs) -> tuple[UpdateStep, TensorDict]:
    """WSRL's update step for one of ``BLOCKS`` at hopper sizes (``make_networks``, fused Adam
    from ``make_optimizers``; ``update_kwargs`` go to ``UpdateStep``), and a random batch of the
    block's size."""
    loss_cls, loss_kwargs, batch_size, utd_ratio = BLOCKS[block]
    obs_dim, action_dim = HOPPER
    actor, critic = make_networks(obs_dim, action_dim, backend=backend)
    loss = loss_cls(actor, critic, action_dim=action_dim, **loss_kwargs)
    optimizers = make_optimizers(loss, capturable=update_kwargs.get("cudagraphs", False))
    update = UpdateStep(loss, optimizers, utd_ratio=utd_ratio, **update_kwargs)
    return update, make_batch(batch_size, obs_dim, action_dim)


def run_benchmark(benchmark, fn, *, rounds: int, warmup_rounds: int = 2) -> None:
    """Time ``fn`` (synchronised on GPUs) for ``rounds`` rounds after ``warmup_rounds``. The first
    call, which compiles when ``fn`` is compiled, is timed apart into ``extra_info``, with the
    1-minute load average (other users share the machine)."""

    def call():
        fn()
        sync()

    start = time.perf_counter()
    call()
    benchmark.extra_info["first_call_s"] = round(time.perf_counter() - start, 3)
    if QUICK:
        rounds, warmup_rounds = 2, 1
    elif ROUNDS is not None:
        rounds, warmup_rounds = ROUNDS, 1
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
    benchmark.extra_info["load_average_1min"] = os.getloadavg()[0]


@dataclass(frozen=True)
class Evaluation:
    """``copies`` MLPs of layer ``widths`` (input first, e.g. ``(14, 256, 256, 1)``) run on
    ``rows`` inputs each, in one update, and what the update needs back from them:
    ``weight_grad``, gradients of their weights (a network being trained); ``input_grad``, the
    gradient of their input (the critics in the actor loss, through which the actor is trained).
    """

    widths: tuple[int, ...]
    rows: int
    copies: int = 1
    weight_grad: bool = False
    input_grad: bool = False


def matmul_flops(evaluations: Iterable[Evaluation]) -> int:
    """Floating-point operations of the matrix products of ``evaluations`` (a multiply-add is 2).

    A layer ``n_in -> n_out`` on ``r`` rows costs ``2 r n_in n_out`` forward, as much again for
    its weight gradient, and as much again for its input gradient. The input gradient of the
    first layer is computed only with ``input_grad``; those of the later layers whenever a
    gradient flows through the network. So forward + backward is 3x the forward cost minus the
    first layer's input gradient (on data inputs), 2x for frozen weights with ``input_grad``,
    1x without gradients. Element-wise work (biases, LayerNorm, activations) is not counted.
    """
    total = 0
    for e in evaluations:
        layers = [n_in * n_out for n_in, n_out in pairwise(e.widths)]
        forward = sum(layers)
        backward = 0
        if e.weight_grad:
            backward += forward
        if e.input_grad:
            backward += forward
        elif e.weight_grad:
            backward += forward - layers[0]
        total += 2 * e.rows * e.copies * (forward + backward)
    return total


class ExecutedMatmulFlops(TorchDispatchMode):
    """Counts the FLOPs of the matrix products torch executes inside the ``with`` block, by
    ``torch.utils.flop_counter``'s formulas (attribute ``total``): the check of ``matmul_flops``.

    ``FlopCounterMode`` itself cannot be used here: its module tracker compares modules by
    ``==``, which a ``TensorDictParams`` module (TorchRL losses) answers with a TensorDict.
    """

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out

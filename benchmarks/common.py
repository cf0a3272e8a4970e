"""Shapes, builders and the timing helper shared by the benchmark files (settings: conftest.py).

Environment:
    BENCH_THREADS: intra-op CPU threads (default 2, the cores of the reference machine).
    BENCH_QUICK: ``1`` runs every benchmark on tiny shapes with 2 rounds, to check that the files
        work (CI); its figures mean nothing.
"""
from __future__ import annotations

import os
import time

import pytest
import torch
from tensordict import TensorDict

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.testing import random_transitions

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
QUICK = os.environ.get("BENCH_QUICK", "0") == "1"
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
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
    benchmark.extra_info["load_average_1min"] = os.getloadavg()[0]

"""Cost of one run checkpoint at the paper's sizes: hopper, 10 critics 2x256 with LayerNorm,
actor 2x256, Adam states, and the online buffer as it is at the end of the online phase
(300k transitions in a 2M-row storage). Size in ``extra_info["size_mb"]``."""
from __future__ import annotations

import shutil

import torch

from common import HIDDEN, HOPPER, NUM_CRITICS, QUICK
from torchrl_wsrl.checkpoint import RunCheckpoints
from torchrl_wsrl.envs import get_task, make_env
from torchrl_wsrl.metrics import IntervalMetrics
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import WSRLLoss
from torchrl_wsrl.replay import as_transitions, make_replay_buffer
from support import random_transitions
from torchrl_wsrl.update import make_optimizers

TRANSITIONS, CAPACITY = (3_000, 20_000) if QUICK else (300_000, 2_000_000)


def _agent():
    obs_dim, action_dim = HOPPER
    loss = WSRLLoss(make_actor(obs_dim, action_dim, HIDDEN), EnsembleQCritic(obs_dim, action_dim, NUM_CRITICS, HIDDEN), action_dim=action_dim)
    optimizers = make_optimizers(loss)
    for optimizer in optimizers.values():  # Adam moments exist after one step
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = torch.zeros_like(p)
        optimizer.step()
    return loss, optimizers


def test_run_checkpoint_write(benchmark, tmp_path):
    loss, optimizers = _agent()
    buffer, _, _ = make_replay_buffer(capacity=CAPACITY, batch_size=1024, warmup_steps=5000)
    transitions = random_transitions(TRANSITIONS, *HOPPER)
    transitions["next", "truncated"] = torch.zeros_like(transitions["next", "done"])
    buffer.extend(as_transitions(transitions))
    env = make_env(get_task("hopper-medium"), seed=0)
    checkpoints = RunCheckpoints(tmp_path / "checkpoints", keep_last=1, task="hopper-medium")
    progress = {"phase": "online", "grad_step": 0, "env_step": TRANSITIONS, "metric_rows": 0}
    position = iter(range(1, 10_000))

    def save():
        return checkpoints.save(next(position), loss=loss, optimizers=optimizers, replay=buffer, envs={"eval": env, "collector": env},
                                progress=progress, interval=IntervalMetrics(), run={"networks": {}, "config": {}})

    path = benchmark.pedantic(save, rounds=3, iterations=1)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    benchmark.extra_info["size_mb"] = round(size / 2**20, 1)
    benchmark.extra_info["transitions"] = TRANSITIONS
    shutil.rmtree(tmp_path / "checkpoints")

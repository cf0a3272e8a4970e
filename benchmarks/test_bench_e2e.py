"""End-to-end throughput: the trainer's own phases, timed around their update blocks.

- ``online``: the online phase of :class:`~torchrl_wsrl.training.Trainer` (collector step with
  the sampling policy, MuJoCo ``Hopper-v5`` step, transitions written to the replay buffer, a
  batch sampled, one UTD block per env step), ``algo=sac_scratch`` so that no pre-training runs
  (the same online update as ``wsrl``: 10 critics, UTD 4, min over 2 drawn target critics).
  Reported: env steps per second after the warmup, the share of each env step spent outside
  the update block, and the host time per env step outside it. Evaluations are timed apart
  and left out.
- ``online-host``: the same loop with the update block replaced by a no-op returning the
  block's metrics (tiny networks): the host work of one env step alone (policy forward, MuJoCo
  step, collector, buffer write and sample, metric bookkeeping).
- ``pretrain``: pre-training gradient steps per second, replay sampling included
  (:func:`~torchrl_wsrl.training.pretrain`, Cal-QL / CQL with the BC warm start off).

Sizes: ``paper`` (10 critics 2x256, actor 2x256, online batch 1024 at UTD 4, CQL batch 256 with
3 x 10 proposals) and ``cpu`` (the default profile's: 128x128, batch 256, 3 x 4 proposals).
"""
from __future__ import annotations

import time

import pytest

from common import DEVICE, QUICK, THREADS, needs_cuda, sync
from torchrl_wsrl.agent import make_loss, make_optimizers_for
from torchrl_wsrl.conf import compose_config
from support import write_random_d4rl
from torchrl_wsrl.training import Hooks, Trainer, online, pretrain

ONLINE_STEPS = 40 if QUICK else 300  # env steps timed after the warmup
HOST_STEPS = 40 if QUICK else 3000  # ... without the update (tiny networks)
PRETRAIN_STEPS = 5 if QUICK else 100
# hopper-medium, each run training its own agent, eager fp32 unless HOT_PATHS says otherwise:
# the configuration of the figures in RESULTS.md.
BASE = ["task=hopper-medium", "pretrained=none", "update_step.compile=false", "critic.precision=fp32"]
SIZES = {
    "paper": ["profile=paper", *BASE],
    # the CPU-scale profile of the RESULTS.md figures: 128x128, online batch 256, 4 CQL proposals
    "cpu": ["profile=default", "network=cpu", "train.online_batch_size=256", "task.cql.num_actions=4", *BASE],
    "tiny": ["profile=default", *BASE, "network.locomotion.critic_hidden=[16,16]", "network.locomotion.actor_hidden=[16,16]"],
}
if QUICK:
    SIZES = {name: SIZES["tiny"] for name in SIZES}


class TimedCalls:
    """Wraps a callable and sums the wall time of its calls, synchronised on a GPU (``skip``:
    return ``result`` of the first real call instead of calling again, a no-op with the same
    outputs)."""

    def __init__(self, fn, *, skip: bool = False):
        self.fn, self.skip, self.seconds, self.calls, self.result = fn, skip, 0.0, 0, None

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        if self.result is None or not self.skip:
            self.result = self.fn(*args, **kwargs)
            sync()  # on a GPU, the call's queued work belongs to it
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return self.result


def timed_trainer(overrides: list[str], run_dir, *, skip_update: bool = False) -> tuple[Trainer, dict]:
    """A trainer whose update blocks, evaluations and run checkpoints are timed through its
    hooks (``timers["update"]``, ``timers["evaluate"]``, ``timers["checkpoint"]``)."""
    timers = {}

    def timed(name, **kwargs):
        def wrap(fn):
            timers[name] = TimedCalls(fn, **kwargs)
            return timers[name]

        return wrap

    hooks = Hooks(update=timed("update", skip=skip_update), evaluate=timed("evaluate"), checkpoint=timed("checkpoint"))
    trainer = Trainer(compose_config([*overrides, f"threads={THREADS}", "logger=csv"]), run_dir, hooks=hooks)
    return trainer, timers


HOT_PATHS = {  # the update step's switches (the trainer's default: eager)
    "eager": [],
    "compiled+cudagraphs": ["update_step.compile=true", "update_step.cudagraphs=true"],
}


def online_overrides(size: str, hot_path: str = "eager") -> list[str]:
    return [
        *SIZES[size], *HOT_PATHS[hot_path], f"device={DEVICE.type}", "algo=sac_scratch", "train.warmup_steps=0", "train.eval_episodes=1", "train.buffer_capacity=20000",
        f"train.eval_every={10**9}", f"checkpoint.online_every={10**9}",
    ]


def run_online(overrides: list[str], online_steps: int, run_dir, *, skip_update: bool) -> tuple[float, float]:
    """Wall time of the online phase of ``online_steps`` env steps, evaluations left out, and
    the time spent in its update blocks."""
    trainer, timers = timed_trainer([*overrides, f"train.online_steps={online_steps}"], run_dir, skip_update=skip_update)
    loss = make_loss(trainer.cfg, trainer.task, trainer.actor, trainer.critic, regularized=False).to(trainer.device)
    tic = time.perf_counter()
    online(trainer.phase_context(), loss, make_optimizers_for(trainer.cfg, loss, online=True), trainer.critic)
    return time.perf_counter() - tic - timers["evaluate"].seconds, timers["update"].seconds


def per_env_step(size: str, tmp_path, *, skip_update: bool, steps: int = ONLINE_STEPS, hot_path: str = "eager") -> tuple[float, float]:
    """Steady-state milliseconds per online env step, ``(outside the update block, in it)``:
    the difference of two runs, ``steps`` env steps apart, both past the first update
    (start-up, buffer allocation and the last evaluation cancel out)."""
    overrides = online_overrides(size, hot_path)
    start = compose_config(overrides).train.online_batch_size + 10  # updates start at one batch
    runs = [run_online(overrides, start + n, tmp_path / f"run{n}", skip_update=skip_update) for n in (0, steps)]
    (wall_0, update_0), (wall_1, update_1) = runs
    update_ms = 1e3 * (update_1 - update_0) / steps
    return 1e3 * (wall_1 - wall_0) / steps - update_ms, update_ms


@pytest.mark.parametrize("hot_path", [pytest.param("eager"), pytest.param("compiled+cudagraphs", marks=needs_cuda)])
@pytest.mark.parametrize("size", ["paper", "cpu"])
def test_online_phase(benchmark, size, hot_path, tmp_path):
    """Env steps per second of the online phase, and the share of time outside the update
    block (the update block is timed around each call, synchronised on a GPU; evaluations
    excluded)."""
    benchmark.group = "end to end: online phase"
    result = []
    run = lambda: result.append(per_env_step(size, tmp_path, skip_update=False, hot_path=hot_path))  # noqa: E731
    benchmark.pedantic(run, rounds=1, iterations=1)
    host_ms, update_ms = result[0]
    benchmark.extra_info.update(
        env_steps_per_s=1e3 / (host_ms + update_ms),
        update_ms_per_env_step=update_ms,
        host_ms_per_env_step=host_ms,
        share_outside_update=host_ms / (host_ms + update_ms),
    )


@pytest.mark.parametrize("policy", ["sampling-policy", "probabilistic-actor"])
def test_online_host_work(benchmark, policy, tmp_path, monkeypatch):
    """The host work of one online env step without the update: tiny networks, the update
    block replaced by a no-op returning its metrics (one real call first). The collector runs
    :class:`~torchrl_wsrl.modules.SamplingPolicy` (the trainer's), or the TorchRL actor itself."""
    benchmark.group = "end to end: online host work per env step"
    if policy == "probabilistic-actor":
        monkeypatch.setattr("torchrl_wsrl.training.phases.SamplingPolicy", lambda actor: actor)
    result = []
    steps = HOST_STEPS
    benchmark.pedantic(lambda: result.append(per_env_step("tiny", tmp_path, skip_update=True, steps=steps)), rounds=1, iterations=1)
    benchmark.extra_info.update(host_ms_per_env_step=result[0][0])


@pytest.mark.parametrize("size", ["paper", "cpu"])
def test_pretraining(benchmark, size, tmp_path):
    """Gradient steps per second of pre-training, replay sampling and metric bookkeeping
    included (evaluations excluded), and the share of time outside the update."""
    benchmark.group = "end to end: pre-training"
    dataset = write_random_d4rl(tmp_path / "hopper.hdf5", 20_000 if not QUICK else 500, obs_dim=11, action_dim=3)
    result = {}

    def run():
        overrides = [
            *SIZES[size], "algo=wsrl", f"dataset_path={dataset}", f"train.pretrain_steps={PRETRAIN_STEPS}", "train.bc_steps=0",
            f"train.pretrain_eval_every={10**9}", "train.eval_episodes=1", f"checkpoint.pretrain_every={10**9}",
        ]
        trainer, timers = timed_trainer(overrides, tmp_path / f"run{len(list(tmp_path.iterdir()))}")
        tic = time.perf_counter()
        pretrain(trainer.phase_context(), trainer.pre_loss, trainer.pre_optimizers, trainer.critic)
        apart = timers["evaluate"].seconds + timers["checkpoint"].seconds  # the last step's
        result.update(wall_s=time.perf_counter() - tic - apart, update_s=timers["update"].seconds)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(
        grad_steps_per_s=PRETRAIN_STEPS / result["wall_s"],
        update_ms=1e3 * result["update_s"] / PRETRAIN_STEPS,
        share_outside_update=1 - result["update_s"] / result["wall_s"],
    )

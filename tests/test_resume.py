"""A run killed with SIGKILL and resumed (``resume=RUN_DIR``) ends exactly as the uninterrupted
run of the same seed: same metrics rows (wall times aside), same scores, same final agent."""
import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torchrl.checkpoint import Checkpoint

PRETRAIN_STEPS = 120
RUN = [
    "profile=smoke", "task=hopper-medium", "threads=1", f"train.pretrain_steps={PRETRAIN_STEPS}", "train.bc_steps=60",
    "train.pretrain_eval_every=40", "checkpoint.pretrain_every=30", "train.online_steps=400",
    "train.warmup_steps=100", "train.eval_every=100", "checkpoint.online_every=60", "logger=csv",
]


def train(*overrides, **kwargs):
    cmd = [sys.executable, "-m", "torchrl_wsrl.train", *overrides]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={"OMP_NUM_THREADS": "1", **_env()}, **kwargs)


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}


def finish(process, timeout=300):
    _, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]


def checkpoint_positions(run_dir: Path) -> list[int]:
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(int(p.name.split("-")[1]) for p in root.iterdir() if p.name.startswith("checkpoint-") and Checkpoint.is_checkpoint(p))


def kill_after_checkpoint(run_dir: Path, reached) -> None:
    """Start a run into ``run_dir`` and SIGKILL it as soon as a checkpoint at a position for
    which ``reached(position)`` holds exists."""
    process = train(*RUN, f"hydra.run.dir={run_dir}")
    deadline = time.monotonic() + 300
    while not any(reached(p) for p in checkpoint_positions(run_dir)):
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "summary.json").exists(), "killed too late: the run had finished"


def rows(run_dir: Path) -> list[dict]:
    with (run_dir / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in csv.DictReader(f)]


def scores(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {k: summary[k] for k in ("after_pretraining", "after_warmup", "final", "data_score")}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "uninterrupted"
    finish(train(*RUN, f"hydra.run.dir={run_dir}"))
    return run_dir


@pytest.mark.parametrize(
    "phase, reached",
    [("pretrain", lambda p: 0 < p < PRETRAIN_STEPS), ("online", lambda p: p > PRETRAIN_STEPS)],
)
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted, phase, reached):
    run_dir = tmp_path / "killed"
    kill_after_checkpoint(run_dir, reached)
    rows_at_kill = len(rows(run_dir))
    finish(train(f"resume={run_dir}"))
    assert rows(run_dir) == rows(uninterrupted)
    assert len(rows(run_dir)) > rows_at_kill or phase == "online"
    assert scores(run_dir) == scores(uninterrupted)
    final, expected = (torch.load(d / "final.pt", weights_only=True) for d in (run_dir, uninterrupted))
    for key, value in expected["loss"].items():
        assert torch.equal(final["loss"][key], value), key
    assert (run_dir / ".hydra" / "overrides.yaml").read_text() != "", "the run's own hydra records are kept"
    assert any(p.name.startswith("resume-") for p in (run_dir / ".hydra").iterdir())

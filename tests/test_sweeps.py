"""Sweeps on hydra's submitit launcher: ``hydra/launcher=submitit_local`` runs the jobs as the
SLURM config (``hydra/launcher=slurm``) runs them on a cluster, each in its own process."""
import json
import math
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from torchrl_wsrl.plotting import read_metrics

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason='pip install -e ".[sweep]"')

# profile=smoke, shortened: the three phases in a few seconds per job.
SHORT = (
    "train.pretrain_steps=10", "train.bc_steps=5", "train.pretrain_eval_every=10", "checkpoint.pretrain_every=10",
    "train.online_steps=40", "train.warmup_steps=10", "train.eval_every=20", "checkpoint.online_every=20",
    "train.eval_episodes=1", "train.online_batch_size=16",
)


def test_a_submitit_sweep_runs_each_job_into_its_own_directory(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torchrl_wsrl.train", "-m", "hydra/launcher=submitit_local",
               "profile=smoke", "task=hopper-medium", "seed=0,1", "threads=1", f"runs_root={tmp_path}", *SHORT]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    [sweep] = (tmp_path / "multirun").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert jobs == ["0_hopper-medium_wsrl_seed0", "1_hopper-medium_wsrl_seed1"]
    scores = []
    for seed, job in enumerate(jobs):
        assert OmegaConf.load(sweep / job / "config.yaml").seed == seed
        rows = read_metrics(sweep / job / "metrics.csv")
        assert [(r["phase"], r["env_step"]) for r in rows] == [("pretrain", "0"), ("warmup", "10"), ("online", "20"), ("online", "40")]
        summary = json.loads((sweep / job / "summary.json").read_text())
        scores.append([summary[key] for key in ("after_pretraining", "after_warmup", "final")])
        assert all(math.isfinite(score) for score in scores[-1])
    assert scores[0] != scores[1]  # two seeds, two runs

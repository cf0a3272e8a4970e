"""End to end, every registered task: generated data -> pre-training -> warmup -> online.

Each run is ``python -m torchrl_wsrl.train task=<task> profile=smoke dataset_path=<file>``
shrunk further by overrides, composed with hydra's compose API and run by the Trainer in-process
(the CLI's own start-up costs seconds per task). The default run keeps one dense and one sparse
task; ``pytest -m slow tests/test_tasks_smoke.py`` runs all of them (about 10 minutes on 2 CPU
cores, most of it evaluating the 1,000- and 2,000-step antmaze episodes).
"""

import csv
import json

import pytest
from hydra import compose, initialize_config_module

from torchrl_wsrl.cli.generate import main as generate_main
from torchrl_wsrl.envs import get_task, list_tasks
from torchrl_wsrl.training import Trainer
from support import task_params

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


SHRINK = [
    "profile=smoke",
    "train.pretrain_steps=20",
    "train.bc_steps=10",
    "train.online_steps=60",
    "train.online_batch_size=32",
    "train.warmup_steps=20",
    "train.eval_every=30",
    "train.eval_episodes=1",
    "agent.num_critics=4",
]


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    # MuJoCo appends its warnings to MUJOCO_LOG.TXT in the working directory.
    monkeypatch.chdir(tmp_path)


def run_task(name: str, tmp_path) -> None:
    dataset = tmp_path / f"{name}.hdf5"
    generate_main(
        ["--task", name, "--behaviour", "random", "--transitions", "300", "--out", str(dataset)]
    )
    domain = get_task(name).domain
    overrides = [
        f"task={name}", f"dataset_path={dataset}", f"runs_root={tmp_path}", *SHRINK,
        f"network.{domain}.critic_hidden=[16,16]", f"network.{domain}.actor_hidden=[16,16]",
    ]
    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    run_dir = tmp_path / "run"
    summary = Trainer(cfg, run_dir).run()

    assert summary.after_pretraining is not None and summary.final is not None
    with (run_dir / "metrics.csv").open() as file:
        phases = [row["phase"] for row in csv.DictReader(file)]
    assert phases == ["pretrain", "warmup", "online", "online"]
    assert (run_dir / "final.pt").is_file() and (run_dir / "pretrained.pt").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["final"] == summary.final


@pytest.mark.parametrize("name", task_params(["hopper-medium", "pointmaze-umaze"]))
def test_one_dense_and_one_sparse_task_end_to_end(name, tmp_path):
    run_task(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", task_params(list_tasks()))
def test_every_task_end_to_end(name, tmp_path):
    run_task(name, tmp_path)

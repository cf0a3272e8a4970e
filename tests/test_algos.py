"""The algorithms of the paper's comparisons as ``algo=`` configs, and one of them end to end."""
import json
from importlib.resources import files

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from torchrl_wsrl.data import write_d4rl_hdf5
from torchrl_wsrl.plotting import read_metrics
from torchrl_wsrl.report import find_runs, score_table
from torchrl_wsrl.training import Trainer

# name: (pretrain, init_critic, warmup, warmup_policy, online_loss, offline_ratio)
ALGOS = {
    "wsrl": (True, True, True, "pretrained", "wsrl", 0.0),
    "wsrl_no_warmup": (True, True, False, "pretrained", "wsrl", 0.0),
    "wsrl_policy_only": (True, False, True, "pretrained", "wsrl", 0.0),
    "calql_online": (True, True, False, "pretrained", "calql", 0.0),
    "calql_retain": (True, True, False, "pretrained", "calql", 0.5),
    "rlpd": (False, False, True, "random", "wsrl", 0.5),
    "sac_scratch": (False, False, True, "random", "wsrl", 0.0),
    "sac": (False, False, True, "random", "wsrl", 0.0),  # + 2 critics, entropy backup, UTD 1 (the generator's SAC)
}
SWITCHES = ("pretrain", "init_critic", "warmup", "warmup_policy", "online_loss", "offline_ratio")


def _compose(*overrides):
    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_every_algo_config_is_tested():
    shipped = {p.name.removesuffix(".yaml") for p in files("torchrl_wsrl.conf").joinpath("algo").iterdir() if p.name.endswith(".yaml")}
    assert shipped == set(ALGOS)


@pytest.mark.parametrize("name", ALGOS)
def test_algo_switches(name):
    algo = _compose(f"algo={name}").algo
    assert algo.name == name
    assert tuple(algo[k] for k in SWITCHES) == ALGOS[name]


def test_compare_profile_composes_with_any_algo():
    cfg = _compose("profile=compare", "algo=calql_online")
    assert cfg.algo.online_loss == "calql"
    assert cfg.train.online_batch_size % cfg.train.utd_ratio == 0
    assert 0 < cfg.train.warmup_steps < cfg.train.online_steps


def _tiny_hopper_dataset(path, num_rows=300, episode_length=50):
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(num_rows + 1, 11)).astype(np.float32)
    ends = np.arange(1, num_rows + 1) % episode_length == 0
    return write_d4rl_hdf5(path, {
        "observations": observations[:-1],
        "actions": rng.uniform(-1, 1, size=(num_rows, 3)).astype(np.float32),
        "rewards": rng.normal(1.0, 0.1, size=num_rows).astype(np.float32),
        "terminals": np.zeros(num_rows, dtype=bool),
        "timeouts": ends,
        "next_observations": observations[1:],
    })


def test_rlpd_runs_end_to_end(tmp_path):
    """No pre-training, uniform-random warmup, offline data mixed into every online batch."""
    cfg = _compose(
        "algo=rlpd", "profile=smoke", "task=hopper-medium", f"dataset_path={_tiny_hopper_dataset(tmp_path / 'hopper.hdf5')}",
        "train.pretrain_steps=20", "train.online_steps=60", "train.warmup_steps=20", "train.eval_every=30",
        "train.online_batch_size=32", "train.eval_episodes=1", "network.locomotion.critic_hidden=[16,16]", "network.locomotion.actor_hidden=[16,16]", "agent.num_critics=4",
        f"runs_root={tmp_path}",
    )
    run_dir = tmp_path / "run"
    summary = Trainer(cfg, run_dir).run()

    assert summary.after_pretraining is None and summary.after_warmup is not None and summary.final is not None
    assert json.loads((run_dir / "summary.json").read_text())["after_pretraining"] is None
    assert not (run_dir / "pretrained.pt").exists()
    assert (run_dir / "final.pt").is_file() and (run_dir / "learning_curve.png").is_file()
    rows = [(r["phase"], r["env_step"]) for r in read_metrics(run_dir / "metrics.csv")]
    assert rows == [("warmup", "20"), ("online", "30"), ("online", "60")]
    [run] = find_runs([run_dir])
    assert run.algo == "rlpd" and run.warmup_steps == 20
    assert sorted(run.timeline["score"]) == [20, 30, 60]
    assert all(np.isfinite(list(run.timeline[c].values())).all() for c in ("q_pred", "q_online", "q_offline"))
    assert "| rlpd | 1 | n/a |" in score_table({"rlpd": [run]})


def test_the_task_function_pickles_for_parallel_launchers():
    """hydra/launcher=joblib sends the undecorated task function to its workers by value."""
    cloudpickle = pytest.importorskip("cloudpickle")  # what joblib's loky backend pickles with
    from torchrl_wsrl.cli.train import main

    cloudpickle.dumps(main.__wrapped__)


@pytest.mark.parametrize(
    "task, online_backup",
    [("hopper-medium", False), ("antmaze-large-diverse", True), ("kitchen-partial", False),
     ("pen-binary", False), ("pointmaze-umaze", False)],
)
def test_max_target_backup_is_a_setting_of_each_phase(task, online_backup):
    """The authors' CQL / Cal-QL pre-training backs up the max over 10 next actions in every
    domain; their online WSRL only on antmaze (WSRL doc, per-domain table)."""
    from torchrl_wsrl.agent import make_critic, make_loss, make_policy
    from torchrl_wsrl.envs import get_task

    spec = get_task(task)
    cfg = _compose(f"task={task}", "agent.num_critics=2", f"network.{spec.domain}.critic_hidden=[8]", f"network.{spec.domain}.actor_hidden=[8]")
    losses = {
        regularized: make_loss(cfg, spec, make_policy(cfg, spec), make_critic(cfg, spec), regularized=regularized)
        for regularized in (True, False)
    }
    assert (losses[True].max_target_backup, losses[True].num_target_actions) == (True, 10)
    assert losses[False].max_target_backup is online_backup
    assert losses[False].num_target_actions == (10 if online_backup else 1)

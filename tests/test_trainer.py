"""End to end through the Trainer on a tiny synthetic hopper dataset (real Hopper-v5 env)."""
import csv
import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from torchrl_wsrl.agent import make_critic, make_loss, make_policy
from torchrl_wsrl.checkpoint import load_checkpoint, load_policy_actor, restore, save_checkpoint
from torchrl_wsrl.modules import policy_network
from torchrl_wsrl.data import write_d4rl_hdf5
from torchrl_wsrl.envs import get_task
from torchrl_wsrl.training import Hooks, Summary, Trainer
from torchrl_wsrl.training.trainer import noise_verdict
from torchrl_wsrl.update import UpdateStep, make_optimizers

TINY = [
    # hopper-medium pre-trained by the run (Cal-QL), eager fp32: what these tests exercise
    "task=hopper-medium", "pretrained=none", "task.cql.calibrate=true", "update_step.compile=false", "critic.precision=fp32",
    "train.pretrain_steps=20", "train.bc_steps=10", "train.pretrain_eval_every=10", "train.online_steps=60", "train.warmup_steps=20",
    "train.eval_every=30", "train.eval_episodes=1", "train.batch_size=32", "train.online_batch_size=32",
    "train.diagnostic_batch_size=16", "network.locomotion.critic_hidden=[16,16]", "network.locomotion.actor_hidden=[16,16]", "agent.num_critics=4",
    "task.cql.num_actions=2", "threads=1",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 400
    terminals = np.zeros(n, bool)
    terminals[[99, 249]] = True
    timeouts = np.zeros(n, bool)
    timeouts[-1] = True
    data = {
        "observations": rng.normal(size=(n, 11)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, 3)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "terminals": terminals,
        "timeouts": timeouts,
        "next_observations": rng.normal(size=(n, 11)).astype(np.float32),
    }
    return write_d4rl_hdf5(tmp_path_factory.mktemp("data") / "hopper-tiny.hdf5", data)


def config(*overrides):
    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        return compose("config", overrides=[*TINY, *overrides])


def read_rows(run_dir):
    with (run_dir / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def test_wsrl_three_phases_end_to_end(tmp_path, dataset):
    run_dir = tmp_path / "run"
    summary = Trainer(config(f"dataset_path={dataset}"), run_dir).run()
    for name in ("config.yaml", "metrics.csv", "pretrained.pt", "final.pt", "learning_curve.png", "summary.json"):
        assert (run_dir / name).is_file(), name
    rows = read_rows(run_dir)
    assert [(r["phase"], r["grad_step"], r["env_step"]) for r in rows] == [
        ("pretrain", "10", "0"), ("pretrain", "20", "0"), ("warmup", "0", "20"),
        # warmup 20 < online batch 32: the first UTD block runs when the buffer holds one batch
        ("online", "0", "30"), ("online", "116", "60"),
    ]
    assert rows[2]["loss_qvalue"] == ""  # no gradient step during the warmup
    assert rows[-1]["q_online"] != "" and rows[-1]["q_offline"] != ""
    assert summary.after_pretraining == pytest.approx(float(rows[1]["score"]))
    assert summary.after_warmup == pytest.approx(float(rows[2]["score"]))
    assert summary.final == pytest.approx(float(rows[-1]["score"]))
    assert json.loads((run_dir / "summary.json").read_text())["final"] == summary.final
    resolved = (run_dir / "config.yaml").read_text()
    assert "${" not in resolved and "pretrain_steps: 20" in resolved

    with pytest.raises(FileExistsError, match="metrics.csv"):
        Trainer(config(f"dataset_path={dataset}"), run_dir)

    # Phase 1 skipped by pointing at the saved checkpoint.
    again = tmp_path / "from-checkpoint"
    Trainer(config(f"pretrained_checkpoint={run_dir / 'pretrained.pt'}"), again).run()
    rows = read_rows(again)
    assert rows[0]["phase"] == "pretrain" and rows[0]["grad_step"] == "0"
    assert not (again / "pretrained.pt").exists()

    # A final.pt (the WSRL loss: no CQL multiplier, no optimizer for it) goes on training too,
    # with the Lagrange multiplier on, whose own entries then start fresh.
    further = tmp_path / "from-final"
    final = load_checkpoint(run_dir / "final.pt")
    assert "cql_alpha" not in final["optimizers"]
    evaluated = []

    def record_actor(evaluate):
        def wrapped(*args, **kwargs):
            evaluated.append({k: v.clone() for k, v in policy_network(args[3]).state_dict().items()})
            return evaluate(*args, **kwargs)

        return wrapped

    cfg = config(f"pretrained_checkpoint={run_dir / 'final.pt'}", "task.cql.lagrange=true")
    Trainer(cfg, further, hooks=Hooks(evaluate=record_actor)).run()
    saved = policy_network(load_policy_actor(run_dir / "final.pt", get_task(cfg.task.name))).state_dict()
    for key, value in saved.items():  # the first evaluation is of final.pt's actor, restored whole
        torch.testing.assert_close(evaluated[0][key], value)


def agent(cfg, regularized):
    task = get_task(cfg.task.name)
    loss = make_loss(cfg, task, make_policy(cfg, task), make_critic(cfg, task), regularized=regularized)
    return loss, make_optimizers(loss)


def test_checkpoint_restores_calql_into_wsrl(tmp_path):
    cfg = config("task=antmaze-umaze")  # Lagrange Cal-QL: the checkpoint carries a multiplier
    pre, pre_opt = agent(cfg, regularized=True)
    with torch.no_grad():
        for p in pre.target_qvalue_network_params.values(True, True):
            p.add_(1.0)
    path = save_checkpoint(tmp_path / "pre.pt", pre, pre_opt)
    with pytest.raises(FileExistsError):
        save_checkpoint(path, pre, pre_opt)

    online, online_opt = agent(cfg, regularized=False)
    for group in online_opt["critic"].param_groups:  # as a cudagraphs run builds them
        group["capturable"] = True
    restore(online, online_opt, load_checkpoint(path), source=str(path))
    assert all(group["capturable"] for group in online_opt["critic"].param_groups)
    for name in ("qvalue_network_params", "target_qvalue_network_params", "actor_network_params"):
        torch.testing.assert_close(getattr(online, name).data, getattr(pre, name).data)

    fresh, fresh_opt = agent(cfg, regularized=False)
    critic_before = fresh.qvalue_network_params.data.clone()
    restore(fresh, fresh_opt, load_checkpoint(path), source=str(path), policy_only=True)
    torch.testing.assert_close(fresh.actor_network_params.data, pre.actor_network_params.data)
    torch.testing.assert_close(fresh.qvalue_network_params.data, critic_before)


def test_restore_keeps_this_runs_learning_rates(tmp_path):
    """The checkpoint gives Adam's moments and step counts; the online run's config its learning
    rates (before: ``optimizer.load_state_dict`` put the pre-training rates back)."""
    cfg = config()
    pre, _ = agent(cfg, regularized=True)
    pre_opt = make_optimizers(pre, lr_actor=1e-4, lr_critic=3e-4)
    actor = next(iter(pre.parameter_groups()["actor"]))
    actor.grad = torch.randn_like(actor)
    pre_opt["actor"].step()
    path = save_checkpoint(tmp_path / "pre.pt", pre, pre_opt)

    online, _ = agent(cfg, regularized=False)
    online_opt = make_optimizers(online, lr_actor=3e-5, lr_critic=1e-3)
    restore(online, online_opt, load_checkpoint(path), source=str(path))
    assert [g["lr"] for g in online_opt["actor"].param_groups] == [3e-5]
    assert [g["lr"] for g in online_opt["critic"].param_groups] == [1e-3]
    restored = online_opt["actor"].state[next(iter(online.parameter_groups()["actor"]))]
    torch.testing.assert_close(restored["exp_avg"], pre_opt["actor"].state[actor]["exp_avg"])
    assert restored["step"].item() == 1


def test_checkpoint_of_another_task_is_refused(tmp_path):
    pre, pre_opt = agent(config("task=hopper-medium"), regularized=True)
    path = save_checkpoint(tmp_path / "hopper.pt", pre, pre_opt)
    other, other_opt = agent(config("task=walker2d-medium"), regularized=False)
    with pytest.raises(ValueError, match="hopper.pt.*another task"):
        restore(other, other_opt, load_checkpoint(path), source=str(path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


class RecordingUpdateStep(UpdateStep):
    """The trainer's update step, recording the buffer size and batch it was first called with."""

    batches: list = []

    def __call__(self, batch):
        RecordingUpdateStep.batches.append(batch.clone())
        return super().__call__(batch)


@pytest.fixture
def recorded_batches(monkeypatch):
    monkeypatch.setattr("torchrl_wsrl.training.trainer.UpdateStep", RecordingUpdateStep)
    RecordingUpdateStep.batches = []
    return RecordingUpdateStep.batches


def test_no_warmup_starts_updating_once_the_buffer_holds_one_batch(tmp_path, dataset, recorded_batches):
    """wsrl_no_warmup: warmup 0 with the authors' min_steps_to_update = online batch (32 here),
    so the first online block runs at env step 32, not on a buffer of one transition."""
    run_dir = tmp_path / "run"
    Trainer(config(f"dataset_path={dataset}", "algo=wsrl_no_warmup"), run_dir).run()
    online_blocks = len(recorded_batches) - 20  # 20 pre-training steps
    assert online_blocks == 60 - 32 + 1
    assert read_rows(run_dir)[-1]["grad_step"] == str(4 * online_blocks)


def test_online_calql_calibrates_on_online_episodes(tmp_path, dataset, recorded_batches):
    """calql_online samples online transitions carrying finite MC returns (not -inf, which
    would turn calibration off): whole episodes enter the buffer when they end."""
    Trainer(config(f"dataset_path={dataset}", "algo=calql_online", "train.online_steps=150"), tmp_path / "run").run()
    online = recorded_batches[20:]
    assert online, "no online update ran"
    for batch in online:
        assert not torch.isinf(batch["mc_return"]).any()


def test_the_online_critic_and_actor_learn_at_their_own_rates(tmp_path, dataset, monkeypatch):
    """``train.online_lr_critic`` / ``online_lr_actor`` set the critics' / the actor's rate of
    the online phase, also when phase 1 is skipped through ``pretrained_checkpoint`` (whose Adam
    state carries the pre-training rate); pre-training keeps ``train.lr_critic`` / ``lr_actor``."""
    rates, actor_rates = [], []

    class RecordingRates(UpdateStep):
        def __init__(self, loss, optimizers, **kwargs):
            rates.append([group["lr"] for group in optimizers["critic"].param_groups])
            actor_rates.append([group["lr"] for group in optimizers["actor"].param_groups])
            super().__init__(loss, optimizers, **kwargs)

    monkeypatch.setattr("torchrl_wsrl.training.trainer.UpdateStep", RecordingRates)
    run_dir = tmp_path / "run"
    Trainer(config(f"dataset_path={dataset}", "train.lr_critic=3e-4", "train.online_lr_critic=2e-5", "train.lr_actor=1e-3", "train.online_lr_actor=1e-4"), run_dir).run()
    again = tmp_path / "from-checkpoint"
    Trainer(config(f"pretrained_checkpoint={run_dir / 'pretrained.pt'}", "train.online_lr_critic=5e-5", "train.online_lr_actor=2e-4"), again).run()
    assert rates == [[3e-4], [2e-5], [5e-5]]
    assert actor_rates == [[1e-3], [1e-4], [2e-4]]


def test_stop_score_ends_the_online_phase_at_the_first_evaluation_reaching_it(tmp_path, monkeypatch):
    """``train.stop_score`` (D4RL's "medium" stop) with ``algo=sac``: scores scripted, the
    sampling policy evaluated, the online transitions kept in write order."""
    import torchrl_wsrl.training.recorder as recorder_module

    scripted = iter([5.0, 10.0, 30.0, 45.0, 60.0])
    policies = []

    def fake_evaluate(env, actor, task, *, num_episodes, critic, gamma, deterministic):
        policies.append(deterministic)
        return {"score": next(scripted), "score_std": 0.0, "episode_return": 0.0, "episode_length": 1.0, "q_pred": 0.0, "q_mc_return": 0.0}

    monkeypatch.setattr(recorder_module, "evaluate", fake_evaluate)
    cfg = config("algo=sac", "train.online_steps=100", "train.warmup_steps=10", "train.eval_every=10", "train.stop_score=44")
    trainer = Trainer(cfg, tmp_path / "run")
    summary = trainer.run()
    # warmup end (10) scores 5; online evaluations at 20, 30, 40: the third reaches 44.
    assert [(r["phase"], r["env_step"]) for r in read_rows(tmp_path / "run")] == [
        ("warmup", "10"), ("online", "20"), ("online", "30"), ("online", "40"),
    ]
    assert summary.online_env_steps == 40 and summary.final == 45.0
    assert policies == [False] * 4  # algo=sac evaluates the sampling policy
    assert len(trainer.online_storage) == 40
    steps = trainer.online_storage[:40]
    # consecutive transitions chain (write order) except across episode ends
    chained = ~steps["next", "done"][:-1].squeeze(-1)
    torch.testing.assert_close(steps["next", "observation"][:-1][chained], steps["observation"][1:][chained])
    assert (tmp_path / "run" / "final.pt").is_file()


@pytest.mark.parametrize("change, noise, verdict", [(2.0, 1.5, "above"), (1.5, 1.5, "within"), (-1.0, 1.5, "within"), (-41.5, 0.3, "below")])
def test_a_change_is_above_within_or_below_the_noise(change, noise, verdict):
    assert noise_verdict(change, noise) == verdict


def test_summary_prints_each_score_with_its_noise_and_the_change():
    """``Summary.record`` keeps an evaluation's score and its std; the printed table gives
    both, and the change from pre-training to the end beside the pre-training noise."""
    summary = Summary(data_score=41.2)
    assert summary.record("after_pretraining", {"score": 42.8, "score_std": 1.5}) == 42.8
    summary.record("after_warmup", {"score": 43.3, "score_std": 0.4})
    summary.record("final", {"score": 36.5, "score_std": 1.25})
    assert (summary.after_pretraining_std, summary.final_std) == (1.5, 1.25)
    lines = summary.table().splitlines()
    assert lines[1].split()[-1] == "41.2"
    assert lines[2].endswith("42.8 +- 1.5") and lines[4].endswith("36.5 +- 1.2")
    assert "-6.3" in lines[5] and "1.5" in lines[5] and "; below the noise" in lines[5]
    summary.record("final", {"score": 44.4, "score_std": 0.5})
    assert "+1.6" in summary.table().splitlines()[5] and "; above the noise" in summary.table()
    summary.record("final", {"score": 43.5, "score_std": 0.5})
    assert "+0.7" in summary.table().splitlines()[5] and "; within the noise" in summary.table()
    assert "change" not in Summary(after_pretraining=40.0).table()

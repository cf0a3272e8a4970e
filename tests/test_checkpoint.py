"""Safe loading and checking of checkpoints, atomic writes, divergence stops, logging."""
import csv
import errno
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from tensordict import TensorDict

from torchrl_wsrl.agent import make_critic, make_loss, make_policy
from torchrl_wsrl.checkpoint import load_checkpoint, restore, save_checkpoint, write_checkpoint
from torchrl_wsrl.modules import policy_network
from torchrl_wsrl.checkpoint import CheckpointMismatchError, RunCheckpoints, check_agent_state
from torchrl_wsrl.data import write_d4rl_hdf5
from torchrl_wsrl.envs import get_task
from torchrl_wsrl.metrics import METRIC_COLUMNS, DivergenceError, IntervalMetrics, MetricsCSV, q_bound
from torchrl_wsrl.training import Trainer
from torchrl_wsrl.update import make_optimizers

TINY = [
    # hopper-medium pre-trained by the run (Cal-QL), eager fp32: what these tests exercise
    "task=hopper-medium", "pretrained=none", "task.cql.calibrate=true", "update_step.compile=false", "critic.precision=fp32",
    "train.pretrain_steps=20", "train.bc_steps=10", "train.pretrain_eval_every=10", "train.online_steps=60",
    "train.warmup_steps=20", "train.eval_every=30", "train.eval_episodes=1", "train.batch_size=32",
    "train.online_batch_size=32", "train.diagnostic_batch_size=16", "network.locomotion.critic_hidden=[16,16]",
    "network.locomotion.actor_hidden=[16,16]", "agent.num_critics=4", "task.cql.num_actions=2", "threads=1",
    "checkpoint.pretrain_every=5", "checkpoint.online_every=10",
]


def config(*overrides):
    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        return compose("config", overrides=[*TINY, *overrides])


def agent(cfg, task="hopper-medium"):
    spec = get_task(task)
    loss = make_loss(cfg, spec, make_policy(cfg, spec), make_critic(cfg, spec), regularized=True)
    return loss, make_optimizers(loss)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A pretrained.pt as the trainer writes it (tiny networks), with one optimizer step taken."""
    cfg = config()
    loss, optimizers = agent(cfg)
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = torch.randn_like(p)
        optimizer.step()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "pretrained.pt", loss, optimizers, task="hopper-medium")


def test_loading_never_runs_pickled_code(tmp_path, saved):
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    payload = load_checkpoint(saved)
    payload["extra"] = Payload()
    bad = tmp_path / "pretrained.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointMismatchError, match=f"{bad}.*refused"):
        load_checkpoint(bad)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 100, "truncate"])
def test_unreadable_files_are_named(tmp_path, saved, content):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(saved.read_bytes()[:2000] if content == "truncate" else content)
    with pytest.raises(CheckpointMismatchError, match=f"{bad}: not a readable checkpoint"):
        load_checkpoint(bad)


def _empty(state):
    state["loss"] = {}


def _partial(state):
    state["loss"] = dict(list(state["loss"].items())[:3])


def _nan(state):
    key = "qvalue_network_params.net.weights.0"
    state["loss"][key] = state["loss"][key].clone().fill_(float("nan"))


def _other_task(state):
    state["task"] = "walker2d-medium"


def _nan_adam(state):
    moments = state["optimizers"]["critic"]["state"][0]
    moments["exp_avg"] = torch.full_like(moments["exp_avg"], float("inf"))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_empty, "missing"),
        (_partial, "missing"),
        (_nan, "non-finite"),
        (_other_task, "task 'walker2d-medium'"),
        (_nan_adam, "non-finite.*optimizers"),
    ],
)
def test_checkpoints_that_do_not_fit_are_refused(tmp_path, saved, corrupt, message):
    state = load_checkpoint(saved)
    corrupt(state)
    cfg = config()
    loss, optimizers = agent(cfg)
    with pytest.raises(CheckpointMismatchError, match=message):
        check_agent_state("x.pt", state, task="hopper-medium", loss=loss, optimizers=optimizers)


@pytest.mark.parametrize(
    "networks, message",
    [
        (["network.locomotion.critic_hidden=[16,16,16]"], "missing.*unexpected|other layer counts"),  # deeper critic
        (["network.locomotion.critic_hidden=[16]"], "unexpected"),  # shallower critic
        (["network.locomotion.critic_hidden=[32,32]"], "shape"),  # wider critic
        (["agent.num_critics=2"], "shape"),
    ],
)
def test_other_networks_are_refused_before_any_work(tmp_path, saved, networks, message):
    run_dir = tmp_path / "run"
    cfg = config(f"pretrained_checkpoint={saved}", *networks)
    with pytest.raises(CheckpointMismatchError, match=f"{saved}.*({message})"):
        Trainer(cfg, run_dir)
    assert not run_dir.exists(), "a refused run writes nothing"


def test_a_sound_checkpoint_passes(saved):
    loss, optimizers = agent(config())
    check_agent_state(str(saved), load_checkpoint(saved), task="hopper-medium", loss=loss, optimizers=optimizers)


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch, saved):
    def full_disk(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    target = tmp_path / "pretrained.pt"
    with pytest.raises(OSError, match=f"{target}.*No space left"):
        write_checkpoint(target, {"a": torch.zeros(1)})
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_to_overwrite(saved):
    before = saved.read_bytes()
    with pytest.raises(FileExistsError, match="not overwriting"):
        write_checkpoint(saved, {})
    assert saved.read_bytes() == before


def write_dataset(path, *, rewards=None, n=400):
    """A hopper-shaped D4RL file of two 200-step episodes (random rows, ``rewards`` if given)."""
    import numpy as np

    rng = np.random.default_rng(0)
    timeouts = np.zeros(n, bool)
    timeouts[[n // 2 - 1, n - 1]] = True
    data = {
        "observations": rng.normal(size=(n, 11)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, 3)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32) if rewards is None else np.full(n, rewards, np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": timeouts,
        "next_observations": rng.normal(size=(n, 11)).astype(np.float32),
    }
    return write_d4rl_hdf5(path, data)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data") / "hopper-tiny.hdf5")


def test_run_checkpoints_rotate_and_hold_the_whole_state(tmp_path, dataset):
    run_dir = tmp_path / "run"
    Trainer(config(f"dataset_path={dataset}", "checkpoint.keep_last=2"), run_dir).run()
    kept = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert len(kept) == 2 and all(name.startswith("checkpoint-") for name in kept), kept
    checkpoints = RunCheckpoints(run_dir / "checkpoints", keep_last=2, task="hopper-medium")
    states = checkpoints.read(checkpoints.latest())
    progress = states["progress"]
    assert progress["phase"] == "online" and progress["env_step"] >= 10
    assert states["replay"]["_transforms"]["transforms.0._extra_state"]["env_steps"] == progress["env_step"]
    assert set(states["env_rng"]) == {"eval", "collector"}
    assert states["run"]["config"]["task"]["name"] == "hopper-medium"
    assert states["run"]["networks"] == {"actor_hidden": [16, 16], "critic_hidden": [16, 16], "num_critics": 4}
    other = RunCheckpoints(run_dir / "checkpoints", keep_last=2, task="walker2d-medium")
    with pytest.raises(CheckpointMismatchError, match="task 'hopper-medium'"):
        other.read(checkpoints.latest())


def test_an_exploding_critic_stops_the_run(tmp_path, dataset):
    """train.lr_critic=1e3 (the issue's case) drives |Q| past its bound within 5 steps."""
    with pytest.raises(DivergenceError, match=r"divergence in pretrain at or before gradient step 5.*\|Q\| reached"):
        Trainer(config(f"dataset_path={dataset}", "train.lr_critic=1e3"), tmp_path / "run").run()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, dataset, monkeypatch):
    """A NaN appearing after gradient step 12 stops the run at the next check (step 15); the
    checkpoints of steps 5 and 10 stay, finite and whole."""
    import torchrl_wsrl.training.trainer as trainer

    class NaNAfter12(trainer.UpdateStep):
        calls = 0

        def __call__(self, batch):
            metrics = super().__call__(batch)
            NaNAfter12.calls += 1
            if NaNAfter12.calls > 12:
                metrics["loss_qvalue"] = torch.tensor(float("nan"))
            return metrics

    monkeypatch.setattr(trainer, "UpdateStep", NaNAfter12)
    run_dir = tmp_path / "run"
    with pytest.raises(DivergenceError, match=r"divergence in pretrain at or before gradient step 15.*loss_qvalue is nan"):
        Trainer(config(f"dataset_path={dataset}", "checkpoint.keep_last=3"), run_dir).run()
    checkpoints = RunCheckpoints(run_dir / "checkpoints", keep_last=3, task="hopper-medium")
    assert [p.name for p in checkpoints.rotation.checkpoints()] == ["checkpoint-000000000005", "checkpoint-000000000010"]
    loss, optimizers = agent(config())
    latest = checkpoints.latest()
    checkpoints.check(latest, checkpoints.read(latest), loss=loss, optimizers=optimizers)


def test_non_finite_losses_stop_the_run(tmp_path):
    path = write_dataset(tmp_path / "huge.hdf5", rewards=1e30)  # finite in float32, its square is not
    with pytest.raises(DivergenceError, match=r"pretrain at or before gradient step 5.*loss_qvalue is (inf|nan)"):
        Trainer(config(f"dataset_path={path}"), tmp_path / "run").run()


def test_q_bound_is_the_geometric_series():
    assert q_bound(2.0, 0.99, 10) == pytest.approx(10 * 2.0 / 0.01)
    assert q_bound(0.0, 0.9, 1) == pytest.approx(10.0)  # at least 1 / (1 - gamma)


def test_interval_metrics_average_every_update():
    interval = IntervalMetrics()
    values = [1.0, 2.0, 6.0]
    for v in values:
        interval.add(TensorDict({"loss_qvalue": torch.tensor(v), "q_mean": torch.tensor(-v)}))
    interval.check(phase="online", step="env step 3", bound=6.0)
    with pytest.raises(DivergenceError, match=r"\|Q\| reached 6"):
        interval.check(phase="online", step="env step 3", bound=5.9)
    assert interval.mean() == {"loss_qvalue": pytest.approx(3.0), "q_mean": pytest.approx(-3.0)}
    assert interval.mean() == {}


def test_metrics_csv_drops_no_metric(tmp_path):
    table = MetricsCSV(tmp_path / "metrics.csv")
    table.write({"phase": "pretrain", "grad_step": 1, "loss_cql_alpha": 0.5})
    with pytest.raises(ValueError, match="no column"):
        table.write({"phase": "pretrain", "new_metric": 1.0})
    with (tmp_path / "metrics.csv").open() as f:
        [row] = list(csv.DictReader(f))
    assert row["loss_cql_alpha"] == "0.5" and list(row) == list(METRIC_COLUMNS)
    with pytest.raises(FileExistsError):
        MetricsCSV(tmp_path / "metrics.csv")


def test_csv_logger_writes_every_metric(tmp_path, dataset):
    run_dir = tmp_path / "run"
    Trainer(config(f"dataset_path={dataset}", "logger=csv"), run_dir).run()
    scalars = run_dir / "logs" / "scalars"
    assert {p.name for p in scalars.iterdir()} == {"pretrain", "warmup", "online"}
    with (scalars / "online" / "score.csv").open() as f:
        steps = [int(line.split(",")[0]) for line in f if line.strip()]
    assert steps == [30, 60]
    assert (scalars / "pretrain" / "loss_qvalue.csv").is_file()


def test_tensorboard_logger(tmp_path, dataset):
    pytest.importorskip("tensorboard")
    run_dir = tmp_path / "run"
    Trainer(config(f"dataset_path={dataset}", "logger=tensorboard"), run_dir).run()
    assert any("tfevents" in p.name for p in (run_dir / "logs").rglob("*"))


def test_wandb_logger_offline(tmp_path, dataset, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = tmp_path / "run"
    Trainer(config(f"dataset_path={dataset}", "logger=wandb"), run_dir).run()
    assert any(p.name.startswith("offline-run") for p in (run_dir / "wandb").iterdir())


def test_a_full_disk_during_a_run_checkpoint_is_an_oserror_naming_the_directory(tmp_path, monkeypatch):
    """torch reports a full disk as ``RuntimeError: [enforce fail at inline_container.cc]
    PytorchStreamWriter failed writing file``; the run checkpoint turns it into one OSError."""
    loss, optimizers = agent(config())
    checkpoints = RunCheckpoints(tmp_path / "checkpoints", keep_last=2, task="hopper-medium")

    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    progress = {"phase": "pretrain", "grad_step": 1, "env_step": 0}
    with pytest.raises(OSError, match=r"could not write run checkpoint 1 under .*checkpoints: .*file write failed"):
        checkpoints.save(1, loss=loss, optimizers=optimizers, replay=None, envs={}, progress=progress, interval=IntervalMetrics(), run={})
    assert checkpoints.latest() is None


def test_load_policy_is_the_saved_actor_ready_for_a_rollout(saved):
    """``torchrl_wsrl.load_policy`` on an agent file: the task's env rolls it out, its actions
    are the saved actor's ``tanh(loc)`` (deterministic) or draws around it (sampling)."""
    import torchrl_wsrl as w

    loss, optimizers = agent(config())
    restore(loss, optimizers, load_checkpoint(saved), source=str(saved))
    policy = w.load_policy(saved)
    rollout = w.make_env("hopper-medium", seed=0).rollout(30, policy)
    assert rollout.batch_size[0] > 0 and not rollout["action"].requires_grad
    with torch.no_grad():
        loc, _ = policy_network(loss.actor_network)(rollout["observation"])
    torch.testing.assert_close(rollout["action"], torch.tanh(loc))
    sampling = w.load_policy(saved, deterministic=False)
    first, second = (sampling(rollout[:5].select("observation").clone())["action"] for _ in range(2))
    assert not torch.equal(first, second)


def test_load_policy_refuses_a_file_without_a_task(tmp_path):
    import torchrl_wsrl as w

    path = write_checkpoint(tmp_path / "other.pt", {"loss": {}, "optimizers": {}})
    with pytest.raises(ValueError, match="names no registered task"):
        w.load_policy(path)

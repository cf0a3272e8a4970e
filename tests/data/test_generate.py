"""The dataset generator: every behaviour, the maze controller, checkpoints, the CLI."""

from itertools import pairwise

import h5py
import numpy as np
import pytest
import torch

from torchrl_wsrl.checkpoint import load_checkpoint, load_policy_actor, save_checkpoint, save_policy_file
from torchrl_wsrl.cli.generate import generate, main, summary
from torchrl_wsrl.data.scripted import RandomStartCell, WaypointController
from torchrl_wsrl.data.sources import load_task_dataset
from torchrl_wsrl.envs import get_task, make_gym_env
from torchrl_wsrl.domains.mazes import cell_to_xy, open_cells, steps_to_cell, xy_to_cell
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import WSRLLoss
from support import needs_robotics, task_params

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

UMAZE = get_task("pointmaze-umaze")
UMAZE_MAP = dict(UMAZE.env_kwargs)["maze_map"]


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    # MuJoCo appends its warnings to MUJOCO_LOG.TXT in the working directory.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHRL_WSRL_DATA", str(tmp_path / "data"))


@pytest.mark.parametrize(
    "name",
    task_params(
        ["hopper-random", "antmaze-umaze", "kitchen-mixed", "door-binary", "pointmaze-umaze"]
    ),
)
def test_random_behaviour_works_for_every_domain(name, tmp_path):
    task = get_task(name)
    out = tmp_path / f"{name}.hdf5"
    main(["--task", name, "--behaviour", "random", "--transitions", "40", "--out", str(out)])

    with h5py.File(out, "r") as file:
        assert file["observations"].shape == (40, task.obs_dim)
        assert file.attrs["env_id"] == task.env_id and file.attrs["behaviour"] == "random"
    td = load_task_dataset(task, path=out)
    assert td["observation"].shape[1] == task.obs_dim
    assert td["action"].shape[1] == task.action_dim
    assert td["action"].abs().max() <= 1.0


def test_steps_to_cell_counts_moves_along_the_u():
    steps = steps_to_cell(UMAZE_MAP, (3, 1))
    assert steps[3, 1] == 0 and steps[1, 1] == 6 and steps[2, 3] == 3
    assert np.isinf(steps[2, 1]) and np.isinf(steps[0, 0])  # walls


def test_waypoint_target_is_the_next_cell_on_the_shortest_path():
    controller = WaypointController(UMAZE_MAP, noise_std=0.0)
    goal = cell_to_xy(UMAZE_MAP, (3, 1), 1.0) + 0.1
    path = [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1)]
    for cell, next_cell in pairwise(path):
        target = controller.target(cell_to_xy(UMAZE_MAP, cell, 1.0), goal)
        assert xy_to_cell(UMAZE_MAP, target, 1.0) == next_cell
    np.testing.assert_array_equal(controller.target(goal - 0.2, goal), goal)


@needs_robotics
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_waypoint_controller_reaches_the_goal_in_pointmaze_umaze(seed):
    env = make_gym_env(UMAZE, seed=seed)
    controller = WaypointController(UMAZE_MAP, noise_std=0.0)
    observation, _ = env.reset()
    for _ in range(150):
        action = controller.action(*np.split(observation.astype(np.float64), 3))
        observation, reward, terminated, truncated, info = env.step(action.astype(np.float32))
        if terminated:
            break
    assert terminated and reward == 1.0 and info["is_success"].item()


@needs_robotics
def test_waypoint_behaviour_writes_successful_goal_reaching_episodes():
    data = generate(UMAZE, "waypoint", transitions=400, seed=0)
    stats = summary(data)
    assert stats["episodes"] >= 3 and stats["terminal_share"] >= 0.7
    assert np.all(data["rewards"][data["terminals"]] == 1.0)


@needs_robotics
def test_random_starts_spread_the_ant_over_the_maze():
    task = get_task("antmaze-umaze")
    maze_map = dict(task.env_kwargs)["maze_map"]
    env = RandomStartCell(make_gym_env(task, seed=0))
    starts = {xy_to_cell(maze_map, env.reset()[0][:2], 4.0) for _ in range(30)}
    assert starts <= set(open_cells(maze_map)) and len(starts) >= 5  # 7 open cells

    data = generate(task, "random-starts", transitions=20, seed=0)
    assert data["observations"].shape == (20, 29)


def test_scripted_behaviours_are_refused_off_their_domain():
    with pytest.raises(ValueError, match="'waypoint' cannot be generated for task 'hopper-medium'"):
        generate(get_task("hopper-medium"), "waypoint", transitions=10, seed=0)
    with pytest.raises(ValueError, match="'random-starts' cannot be generated.*'pen-binary'"):
        generate(get_task("pen-binary"), "random-starts", transitions=10, seed=0)


def _checkpoint(path, task, *, hidden, state_dependent_std):
    actor = make_actor(
        task.obs_dim, task.action_dim, hidden, state_dependent_std=state_dependent_std
    )
    critic = EnsembleQCritic(task.obs_dim, task.action_dim, num_critics=2, hidden_sizes=(8,))
    loss = WSRLLoss(actor, critic, action_dim=task.action_dim)
    save_checkpoint(path, loss, {}, task=task.name)
    return actor


@needs_robotics
@pytest.mark.parametrize("state_dependent_std", [True, False])
def test_any_checkpoint_rolls_out_on_a_goal_task(tmp_path, state_dependent_std):
    task = get_task("antmaze-umaze")
    path = tmp_path / "final.pt"
    actor = _checkpoint(path, task, hidden=(16, 24), state_dependent_std=state_dependent_std)

    restored = load_policy_actor(path, task)
    observation = torch.randn(5, task.obs_dim)
    loc, scale = actor.module[0].module(observation)
    restored_loc, restored_scale = restored.module[0].module(observation)
    torch.testing.assert_close((restored_loc, restored_scale), (loc, scale))

    out = tmp_path / "rollouts.hdf5"
    main(
        [
            "--task",
            task.name,
            "--policy-checkpoint",
            str(path),
            "--transitions",
            "30",
            "--out",
            str(out),
        ]
    )
    with h5py.File(out, "r") as file:
        assert file.attrs["behaviour"] == "policy-checkpoint"
    assert load_task_dataset(task, path=out)["observation"].shape[1] == task.obs_dim


def test_a_checkpoint_of_another_task_is_refused(tmp_path):
    path = tmp_path / "final.pt"
    _checkpoint(path, get_task("pointmaze-umaze"), hidden=(8,), state_dependent_std=True)
    with pytest.raises(ValueError, match="trained on task 'pointmaze-umaze', not 'pen-binary'"):
        load_policy_actor(path, get_task("pen-binary"))


@needs_robotics
def test_the_cli_writes_the_cache_and_refuses_to_overwrite(tmp_path):
    path = main(["--task", "pointmaze-umaze", "--transitions", "50"])
    assert path == tmp_path / "data" / "pointmaze-umaze.hdf5"
    with h5py.File(path, "r") as file:
        assert file.attrs["behaviour"] == "waypoint" and file.attrs["task"] == "pointmaze-umaze"
    assert load_task_dataset(UMAZE).batch_size[0] > 0  # found in the cache
    with pytest.raises(SystemExit):
        main(["--task", "pointmaze-umaze", "--transitions", "50"])


def test_medium_replay_trains_sac_with_the_trainer_and_writes_its_buffer(tmp_path):
    """The SAC behaviours run the trainer (``algo=sac``, overrides after ``--``): "medium-replay"
    writes every transition SAC collected, with the env's raw rewards, and the behaviour
    policy that collected them."""
    out = tmp_path / "hopper-medium-replay.hdf5"
    tiny = ["train.warmup_steps=20", "train.online_batch_size=8", "train.eval_every=20", "train.eval_episodes=1",
            "train.diagnostic_batch_size=8", "checkpoint.online_every=1000"]
    main(["--task", "hopper-medium", "--behaviour", "medium-replay", "--train-steps", "60", "--stop-score", "1000",
          "--out", str(out), "--runs-root", str(tmp_path / "runs"), "--", *tiny])
    runs = list((tmp_path / "runs" / "hopper-medium" / "sac").iterdir())
    assert len(runs) == 1 and (runs[0] / "final.pt").is_file() and (runs[0] / "metrics.csv").is_file()
    with h5py.File(out, "r") as file:
        rewards, terminals, timeouts = file["rewards"][:], file["terminals"][:], file["timeouts"][:]
        observations, next_observations = file["observations"][:], file["next_observations"][:]
        assert file.attrs["sac_env_steps"] == 60
    assert len(rewards) == 60 and timeouts[-1] | terminals[-1]
    # Hopper's raw reward: healthy bonus 1 + forward velocity - control cost, around 1 here.
    assert np.all(np.abs(rewards - 1.0) < 2.0)
    chained = ~(terminals | timeouts)[:-1]
    np.testing.assert_array_equal(next_observations[:-1][chained], observations[1:][chained])
    policy = load_checkpoint(out.with_suffix(".policy.pt"))
    actor = load_policy_actor(out.with_suffix(".policy.pt"), get_task("hopper-medium"))
    final = load_checkpoint(runs[0] / "final.pt")["loss"]
    for key, value in actor.module[0].module.state_dict().items():  # the run's final actor
        torch.testing.assert_close(value, final["actor_network_params.module.0.module." + key])
    assert policy["env_steps"] == 60


def test_medium_stop_score_is_d4rls_medium_level():
    from torchrl_wsrl.cli.generate import medium_stop_score

    assert medium_stop_score(get_task("hopper-medium")) == 44.0 and medium_stop_score(UMAZE) is None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--behaviour", "medium", "--train-steps", "100"], "train.online_steps=100: must exceed train.warmup_steps=5000"),
        (["--behaviour", "medium", "--", "train.nope=1"], "Could not override 'train.nope'"),
        (["--behaviour", "random", "--", "train.warmup_steps=3"], "are for the SAC behaviours"),
    ],
)
def test_the_cli_refuses_a_bad_sac_config_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "x.hdf5"
    with pytest.raises(SystemExit):
        main(["--task", "hopper-medium", "--out", str(out), "--runs-root", str(tmp_path / "runs"), *argv])
    assert message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "hoper-medium"], "--task hoper-medium: Unknown task 'hoper-medium'; closest: ['hopper-medium'"),
        (["--task", "hopper-medium", "--behaviour", "waypoint"], "--behaviour waypoint: behaviour 'waypoint' cannot be generated"),
        (["--task", "hopper-random", "--transitions", "0"], "argument --transitions: must be a positive integer, got '0'"),
        (["--task", "hopper-medium", "--train-steps", "-5"], "argument --train-steps: must be a positive integer, got '-5'"),
    ],
)
def test_the_cli_refuses_a_bad_task_behaviour_or_count_in_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "x.hdf5"
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(out), "--runs-root", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def _data_and_policy(out):
    """A data file and a behaviour-policy file beside it, as a SAC behaviour writes them."""
    main(["--task", "hopper-medium", "--behaviour", "random", "--transitions", "30", "--out", str(out)])
    task = get_task("hopper-medium")
    policy = out.with_suffix(".policy.pt")
    save_policy_file(policy, make_actor(task.obs_dim, task.action_dim, (8,)), task.name, env_steps=60, sampled_score=1.5)
    return policy


def test_the_policy_beside_the_data_rolls_out_again_and_is_kept(tmp_path):
    """More transitions from the behaviour policy that made a data file: --overwrite replaces
    the data and keeps the policy (it is the data's policy still)."""
    out = tmp_path / "hopper-medium.hdf5"
    policy = _data_and_policy(out)
    before = policy.read_bytes()
    main(["--task", "hopper-medium", "--policy-checkpoint", str(policy), "--transitions", "40", "--out", str(out), "--overwrite"])
    assert policy.read_bytes() == before
    with h5py.File(out, "r") as file:
        assert len(file["rewards"]) == 40 and file.attrs["behaviour_policy"] == policy.name
        assert file.attrs["sac_env_steps"] == 60 and file.attrs["behaviour"] == "policy-checkpoint"
    out.unlink()  # the policy alone: no --overwrite needed to roll it out into new data
    main(["--task", "hopper-medium", "--policy-checkpoint", str(policy), "--transitions", "20", "--out", str(out)])
    assert policy.read_bytes() == before and len(h5py.File(out, "r")["rewards"]) == 20


def test_a_failed_overwrite_keeps_the_data_and_its_policy(tmp_path):
    out = tmp_path / "hopper-medium.hdf5"
    policy = _data_and_policy(out)
    data, before = out.read_bytes(), policy.read_bytes()
    other = tmp_path / "walker.policy.pt"
    walker = get_task("walker2d-medium")
    save_policy_file(other, make_actor(walker.obs_dim, walker.action_dim, (8,)), walker.name)
    with pytest.raises(ValueError, match="trained on task 'walker2d-medium'"):
        main(["--task", "hopper-medium", "--policy-checkpoint", str(other), "--out", str(out), "--overwrite"])
    assert out.read_bytes() == data and policy.read_bytes() == before
    # A successful overwrite by a behaviour without a policy removes the old data's policy.
    main(["--task", "hopper-medium", "--behaviour", "random", "--transitions", "20", "--out", str(out), "--overwrite"])
    assert not policy.exists() and len(h5py.File(out, "r")["rewards"]) == 20
    assert sorted(p.name for p in tmp_path.glob("hopper-medium*")) == ["hopper-medium.hdf5"]


@pytest.mark.parametrize("masked", [False, True], ids=["KeyboardInterrupt", "masked-by-tensordict"])
def test_ctrl_c_exits_130_and_keeps_the_data_and_its_policy(tmp_path, monkeypatch, capsys, masked):
    """Ctrl-C once the SAC run has staged its new policy (``.policy.pt.new``): exit code 130, no
    traceback, the old data and policy as they were, the staged policy removed, and where the
    SAC run is. ``masked``: the RuntimeError tensordict's ``to_module`` raises in its place."""
    import torchrl_wsrl.cli.generate as cli

    out = tmp_path / "hopper-medium.hdf5"
    policy = _data_and_policy(out)
    data, before = out.read_bytes(), policy.read_bytes()

    def interrupted_sac_run(task, behaviour, *, policy_out, **_):
        save_policy_file(policy_out, make_actor(task.obs_dim, task.action_dim, (8,)), task.name)
        if not masked:
            raise KeyboardInterrupt
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("Converting a tensordict to boolean value is not permitted") from None

    monkeypatch.setattr(cli, "generate", interrupted_sac_run)
    with pytest.raises(SystemExit) as exit_:
        main(["--task", "hopper-medium", "--behaviour", "medium", "--out", str(out), "--overwrite", "--runs-root", str(tmp_path / "runs")])
    assert exit_.value.code == 130
    stderr = capsys.readouterr().err
    assert "interrupted (Ctrl-C)" in stderr and f"{out} and {policy} kept as they were" in stderr
    assert str(tmp_path / "runs" / "hopper-medium" / "sac") in stderr
    assert out.read_bytes() == data and policy.read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("hopper-medium*")) == ["hopper-medium.hdf5", "hopper-medium.policy.pt"]


def test_an_error_that_is_not_ctrl_c_still_raises(tmp_path, monkeypatch):
    import torchrl_wsrl.cli.generate as cli

    def failing(*_, **__):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(cli, "generate", failing)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        main(["--task", "hopper-medium", "--behaviour", "random", "--out", str(tmp_path / "x.hdf5")])

"""The dataset generator: every behaviour, the maze controller, checkpoints, the CLI."""

from itertools import pairwise

import h5py
import numpy as np
import pytest
import torch

from torchrl_wsrl.agent import save_checkpoint
from torchrl_wsrl.data.generate import actor_from_checkpoint, generate, main, summary
from torchrl_wsrl.data.scripted import RandomStartCell, WaypointController
from torchrl_wsrl.data.sources import load_task_dataset
from torchrl_wsrl.envs import get_task, make_gym_env
from torchrl_wsrl.envs.mazes import cell_to_xy, open_cells, steps_to_cell, xy_to_cell
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import WSRLLoss
from torchrl_wsrl.testing import needs_robotics, task_params

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

    restored = actor_from_checkpoint(path, task)
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
        actor_from_checkpoint(path, get_task("pen-binary"))


@needs_robotics
def test_the_cli_writes_the_cache_and_refuses_to_overwrite(tmp_path):
    path = main(["--task", "pointmaze-umaze", "--transitions", "50"])
    assert path == tmp_path / "data" / "pointmaze-umaze.hdf5"
    with h5py.File(path, "r") as file:
        assert file.attrs["behaviour"] == "waypoint" and file.attrs["task"] == "pointmaze-umaze"
    assert load_task_dataset(UMAZE).batch_size[0] > 0  # found in the cache
    with pytest.raises(SystemExit):
        main(["--task", "pointmaze-umaze", "--transitions", "50"])


def test_medium_sac_stops_at_the_target_score_and_saves_each_evaluated_policy(tmp_path, monkeypatch):
    """D4RL's "medium": SAC is stopped at the first evaluation of its sampling policy that
    reaches the target; the actor of every evaluation is kept (scores scripted here, and no
    update runs: all steps fall in the uniform-random start)."""
    from torchrl_wsrl.data import generate as generator

    scripted = iter([10.0, 30.0, 45.0, 60.0])
    calls = []

    def fake_evaluate(env, actor, task, *, num_episodes, deterministic):
        calls.append(deterministic)
        return {"score": next(scripted)}

    monkeypatch.setattr(generator, "evaluate", fake_evaluate)
    task = get_task("hopper-medium")
    run = generator.train_sac(task, 100, seed=0, stop_score=44.0, eval_every=10, checkpoint_dir=tmp_path / "ck")
    assert run.evaluations == [(10, 10.0), (20, 30.0), (30, 45.0)]
    assert calls == [False, False, False]  # the sampling policy, as it will collect the data
    assert run.transitions.numel() == 30
    saved = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert saved == ["sac-0000010.pt", "sac-0000020.pt", "sac-0000030.pt"]
    actor = actor_from_checkpoint(tmp_path / "ck" / "sac-0000030.pt", task)
    obs = torch.randn(4, task.obs_dim)
    torch.testing.assert_close(actor.module[0].module(obs), run.actor.module[0].module(obs))
    assert generator.medium_stop_score(task) == 44.0 and generator.medium_stop_score(UMAZE) is None

"""load_task_dataset: every source format on every domain, in the task's env layout.

Small synthetic files stand in for the real D4RL and Minari data (no network here): D4RL-format
HDF5 files written with h5py (``infos/*`` datasets included), Minari datasets written with
``minari.create_dataset_from_buffers``.
"""

import importlib.util
import re

import gymnasium as gym
import h5py
import numpy as np
import pytest
import torch

from torchrl_wsrl.data import DatasetError
from torchrl_wsrl.domains.mazes import GOAL_RADIUS
from torchrl_wsrl.domains.pointmaze import MAZE2D_QPOS_OFFSET
from torchrl_wsrl.data.sources import (
    d4rl_path,
    generated_path,
    load_task_dataset,
    minari_path,
    sparse_failure_reward,
)
from torchrl_wsrl.envs import get_task
from torchrl_wsrl.domains.mazes import cell_to_xy

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# The Minari tests need the robotics extra; the D4RL-format ones run without it.
HAS_MINARI = importlib.util.find_spec("minari") is not None
if HAS_MINARI:
    import minari
    from minari.data_collector import EpisodeBuffer
needs_minari = pytest.mark.skipif(
    not HAS_MINARI, reason="minari is not installed: pip install 'torchrl-wsrl[robotics]'"
)

GAMMA = 0.9


@pytest.fixture(autouse=True)
def data_roots(tmp_path, monkeypatch):
    """Empty data dir and Minari root; MuJoCo's log file kept out of the repository."""
    monkeypatch.setenv("TORCHRL_WSRL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_h5(path, *, observations, actions, rewards, terminals, timeouts, infos=(), attrs=()):
    """A D4RL-format file as D4RL ships them: no next_observations, optional infos/*."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        file["observations"] = np.asarray(observations, np.float32)
        file["actions"] = np.asarray(actions, np.float32)
        file["rewards"] = np.asarray(rewards, np.float32)
        file["terminals"] = np.asarray(terminals, bool)
        file["timeouts"] = np.asarray(timeouts, bool)
        for key, value in dict(infos).items():
            file[f"infos/{key}"] = np.asarray(value)
        file.attrs.update(dict(attrs))
    return path


def _random_rows(rng, num_rows, obs_dim, action_dim):
    return {
        "observations": rng.normal(size=(num_rows, obs_dim)),
        "actions": rng.uniform(-1, 1, (num_rows, action_dim)),
    }


def _flags(num_rows, rows):
    flags = np.zeros(num_rows, bool)
    flags[list(rows)] = True
    return flags


def _create_minari(dataset_id, episodes, observation_space, action_space):
    buffers = [EpisodeBuffer(id=i, **episode) for i, episode in enumerate(episodes)]
    minari.create_dataset_from_buffers(
        dataset_id, buffers, observation_space=observation_space, action_space=action_space
    )


def _box(size):
    return gym.spaces.Box(-np.inf, np.inf, (size,), np.float64)


def _action_box(size):
    return gym.spaces.Box(-1.0, 1.0, (size,), np.float32)


def _episode(observations, rewards, action_dim, *, terminated=False, truncated=True, infos=None):
    """One Minari episode of len(rewards) steps (observations: one more row, or a dict)."""
    steps = len(rewards)
    rng = np.random.default_rng(steps)
    episode = {
        "observations": observations,
        "actions": rng.uniform(-1, 1, (steps, action_dim)).astype(np.float32),
        "rewards": np.asarray(rewards, np.float64),
        "terminations": _flags(steps, [steps - 1] if terminated else []),
        "truncations": _flags(steps, [steps - 1] if truncated else []),
    }
    if infos is not None:
        episode["infos"] = infos
    return episode


# --- D4RL-format files ------------------------------------------------------------------------
def test_locomotion_d4rl_file_is_read_as_is():
    task = get_task("hopper-medium")
    rng = np.random.default_rng(0)
    rows = _random_rows(rng, 7, 11, 3)
    _write_h5(
        d4rl_path(task),
        **rows,
        rewards=np.arange(7),
        terminals=_flags(7, [2]),
        timeouts=_flags(7, [6]),
    )
    td = load_task_dataset(task, gamma=GAMMA)

    # rows 0-2 end in a terminal; rows 3-6 time out: row 6 (no next observation) is dropped
    assert td.batch_size == torch.Size([6])
    assert td["observation"].shape == (6, 11) and td["action"].shape == (6, 3)
    np.testing.assert_allclose(td["observation"].numpy(), rows["observations"][:6], rtol=1e-6)
    np.testing.assert_allclose(td["next", "observation"][3].numpy(), rows["observations"][4])
    np.testing.assert_array_equal(td["next", "reward"].squeeze(-1).numpy(), np.arange(6))
    assert td["next", "terminated"].squeeze(-1).tolist() == [False, False, True] + [False] * 3
    assert td["mc_return"][2].item() == pytest.approx(2.0)
    assert td["mc_return"][5].item() == pytest.approx(5 + GAMMA * 6)


def test_episodes_longer_than_the_tasks_limit_are_refused():
    task = get_task("hopper-medium")  # max_episode_steps 1000
    rng = np.random.default_rng(0)
    rows = dict(**_random_rows(rng, 2500, 11, 3), rewards=np.zeros(2500))
    terminals = _flags(2500, [])
    _write_h5(generated_path(task), **rows, terminals=terminals, timeouts=_flags(2500, [999, 1999]))
    assert len(load_task_dataset(task)) == 2497  # episodes of 1000, 1000 and 500 steps

    # the D4RL file is read first: no episode ends at all
    no_ends = _write_h5(d4rl_path(task), **rows, terminals=terminals, timeouts=terminals)
    message = (
        f"{re.escape(str(no_ends))}: the episode starting at row 0 has 2500 steps, more than "
        "the task's limit of 1000"
    )
    with pytest.raises(DatasetError, match=message):
        load_task_dataset(task)


def test_antmaze_file_in_the_env_layout_is_scaled_with_the_sparse_failure_rule():
    task = get_task("antmaze-umaze")
    rng = np.random.default_rng(0)
    rewards = [0, 0, 0, 0, 1]
    _write_h5(
        generated_path(task),
        **_random_rows(rng, 5, 29, 8),
        rewards=rewards,
        terminals=_flags(5, [4]),
        timeouts=_flags(5, [2]),
        attrs={"env_id": task.env_id},
    )
    td = load_task_dataset(task, gamma=GAMMA)

    # episode 1 (rows 0-2) never succeeds: r_neg / (1 - gamma) = -5 / 0.1 at every kept step
    assert sparse_failure_reward(task) == -5.0
    assert td["next", "reward"].squeeze(-1).tolist() == [-5.0, -5.0, -5.0, 5.0]
    np.testing.assert_allclose(td["mc_return"].squeeze(-1)[:2].numpy(), [-50.0, -50.0])
    np.testing.assert_allclose(
        td["mc_return"].squeeze(-1)[2:].numpy(), [-5 + GAMMA * 5, 5.0], rtol=1e-6
    )


def test_antmaze_d4rl_file_is_refused_with_the_minari_release_named():
    task = get_task("antmaze-umaze")
    rng = np.random.default_rng(0)
    path = _write_h5(
        d4rl_path(task),
        **_random_rows(rng, 4, 29, 8),
        rewards=np.zeros(4),
        terminals=_flags(4, []),
        timeouts=_flags(4, [3]),
    )
    expected = f"{re.escape(str(path))}.*mirror image.*env_id.*'D4RL/antmaze/umaze-v1'"
    with pytest.raises(DatasetError, match=expected):
        load_task_dataset(task)


def test_kitchen_d4rl_layout_is_refused_and_the_env_layout_loads():
    task = get_task("kitchen-partial")
    rng = np.random.default_rng(0)
    flags = {"terminals": _flags(3, [2]), "timeouts": _flags(3, [])}
    d4rl = _write_h5(d4rl_path(task), **_random_rows(rng, 3, 60, 9), rewards=[0, 1, 2], **flags)
    with pytest.raises(DatasetError, match="no velocities.*D4RL/kitchen/partial-v2"):
        load_task_dataset(task, path=d4rl)

    own = _write_h5(generated_path(task), **_random_rows(rng, 3, 59, 9), rewards=[0, 1, 2], **flags)
    td = load_task_dataset(task, path=own, gamma=GAMMA)
    assert td["observation"].shape == (3, 59)
    assert td["next", "reward"].squeeze(-1).tolist() == [-4.0, -3.0, -2.0]
    assert sparse_failure_reward(task) is None  # dense in the authors' code: no MC floor
    assert td["mc_return"][0].item() == pytest.approx(-4 - 3 * GAMMA - 2 * GAMMA**2)


def test_adroit_dense_rewards_are_relabelled_binary_from_goal_achieved():
    task = get_task("pen-binary")
    rng = np.random.default_rng(0)
    rows = _random_rows(rng, 6, 45, 24)
    goal_achieved = np.array([False, False, True, True, False, False])
    dense = dict(
        **rows, rewards=rng.normal(size=6) * 10, terminals=_flags(6, []), timeouts=_flags(6, [5])
    )
    path = _write_h5(d4rl_path(task), **dense, infos={"goal_achieved": goal_achieved})
    td = load_task_dataset(task, gamma=GAMMA)

    # -1/0 scaled x10 +5; a success step is terminal, as in the env
    assert td["next", "reward"].squeeze(-1).tolist() == [-5.0, -5.0, 5.0, 5.0, -5.0]
    assert td["next", "terminated"].squeeze(-1).tolist() == [False, False, True, True, False]
    np.testing.assert_allclose(td["mc_return"].squeeze(-1)[4].item(), -5.0 / (1 - GAMMA))

    path.unlink()
    _write_h5(path, **dense)
    with pytest.raises(DatasetError, match="dense.*no infos 'goal_achieved'"):
        load_task_dataset(task)

    path.unlink()
    binary = {**dense, "rewards": np.where(goal_achieved, 0.0, -1.0)}
    _write_h5(path, **binary)
    relabelled = load_task_dataset(task)["next", "reward"].squeeze(-1)
    assert relabelled.tolist() == [-5.0, -5.0, 5.0, 5.0, -5.0]


def test_maze2d_file_is_rotated_into_the_pointmaze_frame():
    task = get_task("pointmaze-umaze")
    maze_map = dict(task.env_kwargs)["maze_map"]
    # D4RL qpos of the centre of cell (i, j) is (i, j) - 0.2; a path from (3, 1) to (1, 1)
    cells = [(3, 1), (3, 2), (3, 3), (2, 3), (1, 3), (1, 2), (1, 1)]
    qpos = np.array(cells, np.float64) - MAZE2D_QPOS_OFFSET
    qvel = np.tile([1.0, 0.0], (len(cells), 1))  # along D4RL's first axis: down the rows
    actions = np.tile([0.5, -0.25], (len(cells), 1))
    goal = np.tile(np.array([1.0, 1.0]) - MAZE2D_QPOS_OFFSET, (len(cells), 1))
    _write_h5(
        d4rl_path(task),
        observations=np.concatenate((qpos, qvel), axis=1),
        actions=actions,
        rewards=np.zeros(len(cells)),
        terminals=_flags(len(cells), []),
        timeouts=_flags(len(cells), [len(cells) - 1]),
        infos={"goal": goal},
    )
    td = load_task_dataset(task, gamma=GAMMA)

    centres = np.stack([cell_to_xy(maze_map, cell, 1.0) for cell in cells])
    observation = td["observation"].numpy()
    np.testing.assert_allclose(observation[:, :2], centres[:-1], atol=1e-6)
    np.testing.assert_allclose(observation[:, 2:4], np.tile([0.0, -1.0], (6, 1)))
    np.testing.assert_allclose(observation[:, 4:6], np.tile(centres[-1], (6, 1)), atol=1e-6)
    np.testing.assert_allclose(td["action"].numpy(), np.tile([-0.25, -0.5], (6, 1)))
    # the step into the goal cell (row 5 -> 6) is the only success: reward 0 after x1 -1
    assert td["next", "reward"].squeeze(-1).tolist() == [-1.0] * 5 + [0.0]
    assert td["next", "terminated"].squeeze(-1).tolist() == [False] * 5 + [True]


def test_pointmaze_layouts_are_the_envs_own_maps():
    gymnasium_robotics = pytest.importorskip(
        "gymnasium_robotics",
        reason="gymnasium-robotics is not installed: pip install 'torchrl-wsrl[robotics]'",
    )

    gym.register_envs(gymnasium_robotics)
    for name in ("pointmaze-umaze", "pointmaze-medium", "pointmaze-large"):
        task = get_task(name)
        own = [list(row) for row in dict(task.env_kwargs)["maze_map"]]
        assert own == gym.spec(task.env_id).kwargs["maze_map"]


# --- Minari datasets --------------------------------------------------------------------------
@needs_minari
def test_locomotion_minari_dataset_is_found_and_read_as_is():
    task = get_task("hopper-medium")
    rng = np.random.default_rng(0)
    episode = _episode(rng.normal(size=(5, 11)), [1.0, 2.0, 3.0, 4.0], 3, terminated=True)
    _create_minari(task.minari_id, [episode], _box(11), _action_box(3))
    td = load_task_dataset(task, gamma=GAMMA)
    assert td["observation"].shape == (4, 11)
    np.testing.assert_allclose(td["observation"].numpy(), episode["observations"][:4], rtol=1e-6)
    assert td["next", "reward"].squeeze(-1).tolist() == [1.0, 2.0, 3.0, 4.0]


def _antmaze_observations(xy, seed=0):
    rng = np.random.default_rng(seed)
    xy = np.asarray(xy, np.float64)
    return {
        "achieved_goal": xy,
        "observation": rng.normal(size=(len(xy), 27)),
        "desired_goal": np.tile([100.0, 100.0], (len(xy), 1)),  # some other commanded goal
    }


@needs_minari
def test_antmaze_minari_is_flattened_and_relabelled_against_the_task_goal():
    task = get_task("antmaze-umaze")
    goal = cell_to_xy(dict(task.env_kwargs)["maze_map"], (3, 1), 4.0)  # the "g" cell
    path_xy = [[4.0, 4.0], [0.0, 4.0], [goal[0] + 1.0, goal[1]], goal + [GOAL_RADIUS - 0.01, 0]]
    observations = _antmaze_observations(path_xy)
    dict_space = gym.spaces.Dict(
        {"achieved_goal": _box(2), "observation": _box(27), "desired_goal": _box(2)}
    )
    # Minari's own rewards are for the commanded goal: all zero here
    episode = _episode(observations, [0.0, 0.0, 0.0], 8, truncated=True)
    _create_minari(task.minari_id, [episode], dict_space, _action_box(8))
    td = load_task_dataset(task, gamma=GAMMA)

    expected = np.concatenate((observations["achieved_goal"], observations["observation"]), 1)
    np.testing.assert_allclose(td["observation"].numpy(), expected[:3], rtol=1e-6)
    assert td["next", "reward"].squeeze(-1).tolist() == [-5.0, -5.0, 5.0]
    assert td["next", "terminated"].squeeze(-1).tolist() == [False, False, True]


@needs_minari
def test_pointmaze_minari_reward_is_recomputed_and_failures_get_the_floor():
    task = get_task("pointmaze-umaze")
    dict_space = gym.spaces.Dict(
        {"observation": _box(4), "achieved_goal": _box(2), "desired_goal": _box(2)}
    )

    def observations(xy, goal):
        xy = np.asarray(xy, np.float64)
        velocity = np.ones_like(xy)
        return {
            "observation": np.concatenate((xy, velocity), 1),
            "achieved_goal": xy,
            "desired_goal": np.tile(goal, (len(xy), 1)),
        }

    reached = _episode(
        observations([[0, 0], [0.5, 0], [1.0, 0]], [1.2, 0.0]), [0.0, 1.0], 2, truncated=True
    )
    failed = _episode(observations([[0, 0], [0, 0.5], [0, 1.0]], [1.0, -1.0]), [0.0, 0.0], 2)
    _create_minari(task.minari_id, [reached, failed], dict_space, _action_box(2))
    td = load_task_dataset(task, gamma=GAMMA)

    assert td["observation"].shape == (3, 6)  # the failed episode's truncated last step is dropped
    np.testing.assert_allclose(td["observation"][0].numpy(), [0, 0, 1, 1, 1.2, 0])
    assert td["next", "reward"].squeeze(-1).tolist() == [-1.0, 0.0, -1.0]
    assert td["next", "terminated"].squeeze(-1).tolist() == [False, True, False]
    assert td["mc_return"].squeeze(-1).tolist() == pytest.approx([-1.0, 0.0, -1.0 / (1 - GAMMA)])


@needs_minari
def test_kitchen_minari_rewards_become_the_running_count():
    task = get_task("kitchen-partial")
    rng = np.random.default_rng(0)
    goal_space = gym.spaces.Dict({"microwave": _box(1), "kettle": _box(7)})
    dict_space = gym.spaces.Dict(
        {"achieved_goal": goal_space, "desired_goal": goal_space, "observation": _box(59)}
    )

    goal = {"microwave": rng.normal(size=(6, 1)), "kettle": rng.normal(size=(6, 7))}
    observations = {
        "achieved_goal": goal,
        "desired_goal": goal,
        "observation": rng.normal(size=(6, 59)),
    }
    episode = _episode(observations, [0, 1, 0, 1, 1], 9, truncated=True)
    _create_minari(task.minari_id, [episode], dict_space, _action_box(9))
    td = load_task_dataset(task, gamma=GAMMA)
    np.testing.assert_allclose(
        td["observation"].numpy(), observations["observation"][:4], rtol=1e-6
    )
    # per-step completions 0 1 0 1 (1): running count 0 1 1 2, minus 4; the truncated step drops
    assert td["next", "reward"].squeeze(-1).tolist() == [-4.0, -3.0, -3.0, -2.0]


@needs_minari
def test_kitchen_minari_running_counts_are_not_summed_twice(data_roots):
    task = get_task("kitchen-complete")
    rng = np.random.default_rng(0)
    episode = _episode({"observation": rng.normal(size=(5, 59))}, [1, 2, 3, 4], 9, terminated=True)
    _create_minari(
        task.minari_id, [episode], gym.spaces.Dict({"observation": _box(59)}), _action_box(9)
    )
    with pytest.raises(DatasetError, match="sum to 10 .*more than the 4 subtasks"):
        load_task_dataset(task)


@needs_minari
def test_adroit_minari_human_rewards_are_relabelled_from_infos_success():
    task = get_task("door-binary")
    rng = np.random.default_rng(0)
    # DataCollector records the reset info too: 4 steps, 5 info rows
    success = np.array([False, False, False, True, True])
    episode = _episode(rng.normal(size=(5, 39)), rng.normal(size=4), 28, infos={"success": success})
    _create_minari(task.minari_id, [episode], _box(39), _action_box(28))
    td = load_task_dataset(task, gamma=GAMMA)
    assert td["next", "reward"].squeeze(-1).tolist() == [-5.0, -5.0, 5.0, 5.0]
    assert td["next", "terminated"].squeeze(-1).tolist() == [False, False, True, True]


@needs_minari
def test_dataset_path_may_name_a_minari_folder():
    task = get_task("hopper-medium")
    rng = np.random.default_rng(0)
    episode = _episode(rng.normal(size=(3, 11)), [1.0, 2.0], 3, terminated=True)
    _create_minari("elsewhere/hopper-v0", [episode], _box(11), _action_box(3))
    folder = minari_path(task).parent.parent.parent / "elsewhere" / "hopper-v0"
    assert load_task_dataset(task, path=folder).batch_size == torch.Size([2])
    with pytest.raises(FileNotFoundError, match="no Minari dataset folder"):
        load_task_dataset(task, path=folder.parent)


# --- where data is looked for -----------------------------------------------------------------
@needs_minari
def test_real_data_wins_over_generated_data():
    task = get_task("pointmaze-umaze")
    rng = np.random.default_rng(0)
    rows = dict(**_random_rows(rng, 3, 6, 2), terminals=_flags(3, [2]), timeouts=_flags(3, []))
    rows["actions"] = np.clip(rows["actions"], -1, 1)
    _write_h5(generated_path(task), **rows, rewards=[0, 0, 1], attrs={"env_id": task.env_id})
    assert load_task_dataset(task).batch_size == torch.Size([3])

    maze = np.array([[0.0, 0.0, 0.0, 0.0, 5.0, 5.0]] * 3)
    episode = _episode(
        {"observation": maze[:, :4], "achieved_goal": maze[:, :2], "desired_goal": maze[:, 4:]},
        [0.0, 0.0],
        2,
    )
    space = gym.spaces.Dict(
        {"observation": _box(4), "achieved_goal": _box(2), "desired_goal": _box(2)}
    )
    _create_minari(task.minari_id, [episode], space, _action_box(2))
    assert load_task_dataset(task).batch_size == torch.Size([1])  # Minari: 2 steps, 1 truncated


def test_missing_data_says_where_it_looked_and_how_to_get_it():
    task = get_task("antmaze-large-diverse")
    with pytest.raises(FileNotFoundError) as error:
        load_task_dataset(task)
    message = str(error.value)
    for path in (d4rl_path(task), minari_path(task), generated_path(task)):
        assert str(path) in message
    assert "minari download D4RL/antmaze/large-diverse-v1" in message
    assert "antmaze-large-diverse-v2 cannot be used" in message
    assert "wsrl-generate --task antmaze-large-diverse" in message
    assert "stand-in, not the paper's data" in message

    with pytest.raises(FileNotFoundError, match="--task antmaze-ultra-diverse") as error:
        load_task_dataset(get_task("antmaze-ultra-diverse"))
    assert "Minari dataset" not in str(error.value)  # no Minari release to look for

    walker = get_task("walker2d-medium-expert")  # no sample ships for it (walker2d-medium's does)
    with pytest.raises(FileNotFoundError, match=f"copy it to {re.escape(str(d4rl_path(walker)))}"):
        load_task_dataset(walker)

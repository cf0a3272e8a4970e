import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from torchrl_wsrl.envs import get_task, list_tasks, make_env, make_gym_env
from torchrl_wsrl.domains import get_domain
from torchrl_wsrl.envs.wrappers import GoalTaskWrapper
from support import needs_robotics, task_params


@pytest.mark.parametrize("name", task_params(list_tasks()))
def test_every_task_runs_through_torchrl(name):
    task = get_task(name)
    env = make_env(name, seed=0)
    check_env_specs(env)
    reset = env.reset()
    rollout = env.rollout(4, break_when_any_done=False)

    assert reset["observation"].shape == (task.obs_dim,)
    assert rollout["observation"].shape == (4, task.obs_dim)
    assert rollout["observation"].dtype == torch.float32
    assert rollout["action"].shape == (4, task.action_dim)
    assert rollout["action"].abs().max() <= 1.0
    assert rollout["next", "reward"].shape == (4, 1)
    assert rollout["next", "reward"].dtype == torch.float32
    for key in ("terminated", "truncated", "done"):
        assert rollout["next", key].shape == (4, 1)
        assert rollout["next", key].dtype == torch.bool
    if task.has_success:
        assert reset["is_success"].shape == (1,) and reset["is_success"].dtype == torch.bool
        assert rollout["next", "is_success"].shape == (4, 1)
        assert rollout["next", "is_success"].dtype == torch.bool
    else:
        assert "is_success" not in rollout.keys()


@pytest.mark.parametrize("name", ["hopper-medium", "halfcheetah-medium-replay"])
def test_the_float32_observations_raise_no_warning(name):
    """MuJoCo's float64 observation space is cast to float32 without gymnasium's warning on
    its infinite bounds; the cast space keeps them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        env = make_gym_env(get_task(name))
    assert env.observation_space.dtype == np.float32 and np.all(np.isinf(env.observation_space.low))


def test_halfcheetah_writes_no_mujoco_log_and_prints_nothing(tmp_path, capfd):
    """gymnasium's HalfCheetah-v5 model has an attribute MuJoCo (>= 3.4) deprecates: building
    the env neither prints that warning nor appends it to MUJOCO_LOG.TXT in the working
    directory (the fixture made it tmp_path)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        make_gym_env(get_task("halfcheetah-medium"))
    out, err = capfd.readouterr()
    assert "settotalmass" not in out + err and not (tmp_path / "MUJOCO_LOG.TXT").exists()


SETTOTALMASS_XML = '<mujoco><compiler settotalmass="5"/><worldbody><body><freejoint/><geom size=".1"/></body></worldbody></mujoco>'


def test_other_mujoco_compiler_warnings_become_python_warnings(monkeypatch):
    """A MuJoCo compiler warning that is not a known asset deprecation (here settotalmass, once
    it is not on the list) is a Python UserWarning, raised as an ordinary exception under an
    ``error`` filter (an exception inside MuJoCo's callback would abort the process); MuJoCo's
    own handler is back after the build."""
    mujoco = pytest.importorskip("mujoco")
    from torchrl_wsrl.envs import factory

    before = mujoco.get_mju_user_warning()
    seen: list[str] = []
    mujoco.set_mju_user_warning(seen.append)
    try:
        mujoco.MjModel.from_xml_string(SETTOTALMASS_XML)
    except ValueError:  # a MuJoCo that has removed the attribute
        seen = []
    finally:
        mujoco.set_mju_user_warning(before)
    if not seen:
        pytest.skip(f"mujoco {mujoco.__version__} does not warn on settotalmass")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with factory._mujoco_compiler_warnings():  # the known deprecation: silent
            mujoco.MjModel.from_xml_string(SETTOTALMASS_XML)
        monkeypatch.setattr(factory, "_ASSET_DEPRECATIONS", ())
        with pytest.raises(UserWarning, match="MuJoCo: compiler attribute 'settotalmass' is deprecated"):
            with factory._mujoco_compiler_warnings():
                mujoco.MjModel.from_xml_string(SETTOTALMASS_XML)
    assert mujoco.get_mju_user_warning() is before


@needs_robotics
def test_gym_env_spaces():
    env = make_gym_env(get_task("door-binary"))
    assert env.observation_space.dtype == np.float32 and env.observation_space.shape == (39,)
    assert np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and info["is_success"].dtype == bool


@needs_robotics
def test_seed_makes_resets_reproducible():
    first = make_env("antmaze-umaze", seed=3).reset()["observation"]
    second = make_env("antmaze-umaze", seed=3).reset()["observation"]
    torch.testing.assert_close(first, second)


@needs_robotics
def test_episode_is_truncated_at_max_episode_steps():
    env = make_env("pen-binary", seed=0)
    rollout = env.rollout(1000, policy=lambda td: td.set("action", torch.zeros(24)))
    assert rollout.shape == (100,)
    assert rollout["next", "truncated"][-1].item()
    assert not rollout["next", "truncated"][:-1].any()


@needs_robotics
def test_antmaze_observation_is_d4rl_qpos_qvel():
    env = make_gym_env(get_task("antmaze-large-diverse"), seed=0)
    data = env.unwrapped.data
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        obs, *_ = env.step(env.action_space.sample())
    expected = np.concatenate([data.qpos, data.qvel]).astype(np.float32)
    assert obs.shape == (29,)
    np.testing.assert_allclose(obs[:2], data.qpos[:2], rtol=1e-6)  # ant x, y first
    np.testing.assert_allclose(obs, expected, rtol=1e-6)


@needs_robotics
def test_antmaze_reward_and_termination_at_the_goal():
    env = make_gym_env(get_task("antmaze-umaze"), seed=0)
    maze = env.unwrapped
    env.reset(seed=0)
    zero = np.zeros(8, dtype=np.float32)
    _, reward, terminated, _, info = env.step(zero)
    assert (reward, terminated, info["is_success"].item()) == (0.0, False, False)
    maze.data.qpos[:2] = maze.goal
    _, reward, terminated, _, info = env.step(zero)
    assert (reward, terminated, info["is_success"].item()) == (1.0, True, True)


@needs_robotics
def test_pointmaze_success_reaches_the_torchrl_env():
    env = make_env("pointmaze-umaze", seed=0)
    td = env.reset()
    np.testing.assert_allclose(td["observation"][4:].numpy(), env.unwrapped.goal, rtol=1e-6)
    env.unwrapped.point_env.data.qpos[:2] = env.unwrapped.goal
    td = env.step(td.set("action", torch.zeros(2)))
    assert td["next", "reward"].item() == 1.0
    assert td["next", "is_success"].item()
    assert td["next", "terminated"].item() and td["next", "done"].item()


class _ScriptedEnv(gym.Env):
    """Returns a scripted info dict per step, reward 10 (to show it is rewritten)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, infos):
        self.infos = infos

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        info = self.infos[self.t]
        self.t += 1
        return np.zeros(2, np.float32), 10.0, False, False, info


def _run(env, steps):
    env.reset()
    return [env.step(np.zeros(1, np.float32)) for _ in range(steps)]


def test_adroit_binary_reward_is_zero_on_success_else_minus_one():
    infos = [{"success": False}, {"success": False}, {"success": True}]
    env = GoalTaskWrapper(_ScriptedEnv(infos), *get_domain("adroit").step_rules(get_task("pen-binary")))
    steps = _run(env, 3)
    assert [s[1] for s in steps] == [-1.0, -1.0, 0.0]
    assert [s[2] for s in steps] == [False, False, True]  # ends on success
    assert [s[4]["is_success"].item() for s in steps] == [False, False, True]


@needs_robotics
def test_adroit_real_env_pays_minus_one_before_success():
    env = make_gym_env(get_task("relocate-binary"), seed=0)
    env.reset(seed=0)
    for _ in range(3):
        _, reward, terminated, _, info = env.step(np.zeros(30, np.float32))
        assert (reward, terminated, info["is_success"].item()) == (-1.0, False, False)


def test_kitchen_reward_counts_subtasks_solved_so_far():
    solved = [
        [],
        ["kettle"],
        ["kettle"],
        ["kettle", "microwave"],
        ["kettle", "microwave", "light switch", "slide cabinet"],
    ]
    infos = [{"episode_task_completions": s} for s in solved]
    env = GoalTaskWrapper(_ScriptedEnv(infos), *get_domain("kitchen").step_rules(get_task("kitchen-partial")))
    steps = _run(env, 5)
    assert [s[1] for s in steps] == [0.0, 1.0, 1.0, 2.0, 4.0]
    assert [s[2] for s in steps] == [False] * 4 + [True]


@needs_robotics
def test_kitchen_real_env_counts_and_ends_when_all_four_are_done():
    from gymnasium_robotics.envs.franka_kitchen.kitchen_env import OBS_ELEMENT_INDICES

    task = get_task("kitchen-partial")
    env = make_gym_env(task, seed=0)
    kitchen = env.unwrapped
    env.reset(seed=0)
    zero = np.zeros(9, np.float32)
    results = []
    # Solve the subtasks one by one by moving each goal onto the current joint state.
    for subtask in dict(task.env_kwargs)["tasks_to_complete"]:
        kitchen.goal[subtask] = kitchen.data.qpos[OBS_ELEMENT_INDICES[subtask]].copy()
        _, reward, terminated, _, info = env.step(zero)
        results.append((reward, terminated, info["is_success"].item()))
    assert results == [
        (1.0, False, False),
        (2.0, False, False),
        (3.0, False, False),
        (4.0, True, True),
    ]


def test_robotics_tasks_need_gymnasium_robotics(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)
    with pytest.raises(ImportError, match=r'pip install "torchrl-wsrl\[robotics\]"'):
        make_gym_env(get_task("pen-binary"))
    make_gym_env(get_task("hopper-medium")).reset(seed=0)


import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from torchrl_wsrl.envs import kitchen_patch
from support import needs_robotics


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


@needs_robotics
def test_import_has_no_side_effect_and_the_factory_patches():
    # One interpreter for the checks: a fresh torchrl import costs seconds.
    result = _python(
        """
        import sys
        from torchrl_wsrl.envs import make_env, kitchen_patch
        make_env("hopper-medium", seed=0).rollout(2)
        # Neither the package, the patch nor locomotion imports gymnasium-robotics,
        # and no import hook is left behind.
        assert "gymnasium_robotics" not in sys.modules
        assert all(type(f).__module__ != kitchen_patch.__name__ for f in sys.meta_path)
        td = make_env("kitchen-complete", seed=0).rollout(2)
        assert td["observation"].shape[-1] == 59
        """
    )
    assert result.returncode == 0, result.stderr


@needs_robotics
def test_apply_makes_franka_kitchen_outside_the_factory():
    result = _python(
        """
        import gymnasium as gym
        import gymnasium_robotics
        from torchrl_wsrl.envs import kitchen_patch
        gym.register_envs(gymnasium_robotics)
        assert kitchen_patch.apply() == kitchen_patch.enum_compare_is_broken()
        env = gym.make("FrankaKitchen-v1")
        obs, _ = env.reset(seed=0)
        assert obs["observation"].shape == (59,)
        env.step(env.action_space.sample())
        """
    )
    assert result.returncode == 0, result.stderr


@needs_robotics
@pytest.mark.skipif(
    not kitchen_patch.enum_compare_is_broken(), reason="this MuJoCo compares enums correctly"
)
def test_franka_kitchen_fails_without_the_patch():
    result = _python(
        """
        import gymnasium as gym
        import gymnasium_robotics
        gym.register_envs(gymnasium_robotics)
        gym.make("FrankaKitchen-v1")
        """
    )
    assert result.returncode != 0 and "AssertionError" in result.stderr


@needs_robotics
def test_patched_helpers_read_and_write_joints():
    import mujoco

    from gymnasium_robotics.utils import mujoco_utils

    kitchen_patch.apply()
    model = mujoco.MjModel.from_xml_string(
        """
        <mujoco><worldbody>
          <body><joint name="hinge" type="hinge"/><geom size="0.1"/></body>
          <body pos="1 0 0"><freejoint name="free"/><geom size="0.1"/></body>
        </worldbody></mujoco>
        """
    )
    data = mujoco.MjData(model)
    mujoco_utils.set_joint_qpos(model, data, "hinge", 0.5)
    mujoco_utils.set_joint_qpos(model, data, "free", np.arange(7.0))
    mujoco_utils.set_joint_qvel(model, data, "free", np.arange(6.0))
    np.testing.assert_array_equal(mujoco_utils.get_joint_qpos(model, data, "hinge"), [0.5])
    np.testing.assert_array_equal(mujoco_utils.get_joint_qpos(model, data, "free"), np.arange(7.0))
    np.testing.assert_array_equal(mujoco_utils.get_joint_qvel(model, data, "free"), np.arange(6.0))
    assert mujoco_utils.get_joint_qvel(model, data, "hinge").shape == (1,)
    with pytest.raises(AssertionError, match="not part of the model"):
        mujoco_utils.get_joint_qpos(model, data, "missing")


def test_patch_is_a_no_op_where_enums_compare_correctly(monkeypatch):
    monkeypatch.setattr(kitchen_patch, "enum_compare_is_broken", lambda: False)
    module = types.ModuleType("fake_mujoco_utils")
    original = module.get_joint_qpos = object()
    assert kitchen_patch.patch_mujoco_utils(module) is False
    assert module.get_joint_qpos is original


def test_patch_is_idempotent(monkeypatch):
    monkeypatch.setattr(kitchen_patch, "enum_compare_is_broken", lambda: True)
    module = types.ModuleType("fake_mujoco_utils")
    assert kitchen_patch.patch_mujoco_utils(module) is True
    first = module.get_joint_qpos
    assert kitchen_patch.patch_mujoco_utils(module) is True
    assert module.get_joint_qpos is first

"""Compatibility patch: gymnasium-robotics 1.4.2 joint helpers under MuJoCo 4.

What is broken. ``gymnasium_robotics.utils.mujoco_utils.get_joint_qpos`` (and its siblings
``get_joint_qvel``, ``set_joint_qpos``, ``set_joint_qvel``) classify a joint with::

    joint_type = model.jnt_type[joint_id]              # a numpy.int32
    ...
    assert joint_type in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE)

``x in (a, b)`` evaluates ``a == x`` with the tuple item on the left. MuJoCo 4's pybind11 enums
answer ``False`` (not ``NotImplemented``) when compared with a NumPy integer, so the membership
test is ``False`` for every hinge and slide joint and the assertion fires. ``FrankaKitchen-v1``
reads its robot joints through ``robot_get_obs -> get_joint_qpos`` in its constructor, so
``gym.make("FrankaKitchen-v1")`` fails with a bare ``AssertionError``.

The fix. Replace the four helpers by versions that compare plain ``int`` joint types. Nothing
else in gymnasium-robotics binds them by name (callers go through the module, e.g.
``self._utils.get_joint_qpos``), so patching the module attributes reaches every caller.

When. The patch must not import gymnasium-robotics eagerly (locomotion works without it), yet
``gym.make("FrankaKitchen-v1")`` must work once :mod:`torchrl_wsrl.envs` is imported. So
:func:`install` patches the module at once if it is already imported and otherwise adds a
``sys.meta_path`` finder that patches it right after it is first imported. The patch is a no-op
where MuJoCo's enums compare correctly with NumPy integers (older MuJoCo, or a fixed release).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

import numpy as np

__all__ = ["install", "patch_mujoco_utils", "enum_compare_is_broken"]

_TARGET = "gymnasium_robotics.utils.mujoco_utils"
_MARK = "_torchrl_wsrl_joint_patch"


def enum_compare_is_broken() -> bool:
    """True where ``np.int32(hinge) in (mujoco.mjtJoint.mjJNT_HINGE,)`` is False (MuJoCo 4)."""
    import mujoco

    hinge = mujoco.mjtJoint.mjJNT_HINGE
    return np.int32(int(hinge)) not in (hinge,)


def _joint_slice(model, name: str, address, widths: dict[int, int]) -> slice:
    import mujoco

    joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    # Same contract as upstream: an unknown joint name is an AssertionError.
    assert joint_id != -1, f"Joint with name '{name}' is not part of the model!"
    start = int(address[joint_id])
    return slice(start, start + widths.get(int(model.jnt_type[joint_id]), 1))


def _widths() -> tuple[dict[int, int], dict[int, int]]:
    import mujoco

    free, ball = int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_BALL)
    # Hinge and slide joints (the default) take one qpos and one qvel entry.
    return {free: 7, ball: 4}, {free: 6, ball: 3}


def _make_helpers() -> dict[str, object]:
    qpos_widths, qvel_widths = _widths()

    def get_joint_qpos(model, data, name):
        """Return the joint's qpos entries (7 free, 4 ball, 1 hinge/slide)."""
        return data.qpos[_joint_slice(model, name, model.jnt_qposadr, qpos_widths)].copy()

    def get_joint_qvel(model, data, name):
        """Return the joint's qvel entries (6 free, 3 ball, 1 hinge/slide)."""
        return data.qvel[_joint_slice(model, name, model.jnt_dofadr, qvel_widths)].copy()

    def set_joint_qpos(model, data, name, value):
        """Write the joint's qpos entries; ``value`` must match their count."""
        index = _joint_slice(model, name, model.jnt_qposadr, qpos_widths)
        data.qpos[index] = np.asarray(value).reshape(index.stop - index.start)

    def set_joint_qvel(model, data, name, value):
        """Write the joint's qvel entries; ``value`` must match their count."""
        index = _joint_slice(model, name, model.jnt_dofadr, qvel_widths)
        data.qvel[index] = np.asarray(value).reshape(index.stop - index.start)

    return {
        "get_joint_qpos": get_joint_qpos,
        "get_joint_qvel": get_joint_qvel,
        "set_joint_qpos": set_joint_qpos,
        "set_joint_qvel": set_joint_qvel,
    }


def patch_mujoco_utils(module: ModuleType) -> bool:
    """Replace the four joint helpers of ``module`` (gymnasium_robotics.utils.mujoco_utils).

    Idempotent, and a no-op unless :func:`enum_compare_is_broken`.

    Returns:
        True if the helpers are (now or already) patched, False if no patch was needed.
    """
    if getattr(module, _MARK, False):
        return True
    if not enum_compare_is_broken():
        return False
    for name, helper in _make_helpers().items():
        setattr(module, name, helper)
    setattr(module, _MARK, True)
    return True


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds ``gymnasium_robotics.utils.mujoco_utils`` normally and patches it once executed."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            patch_mujoco_utils(module)

        spec.loader.exec_module = exec_and_patch
        return spec


def install() -> None:
    """Patch gymnasium-robotics now if it is imported, else as soon as it is. Idempotent."""
    module = sys.modules.get(_TARGET)
    if module is not None:
        patch_mujoco_utils(module)
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())

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

When. Importing this module changes nothing (locomotion works without gymnasium-robotics, and
an import has no side effects): :func:`apply` patches, and the env factory calls it before it
makes any gymnasium-robotics env. Outside the factory, call :func:`apply` before
``gym.make("FrankaKitchen-v1")``. The patch is a no-op where MuJoCo's enums compare correctly
with NumPy integers (older MuJoCo, or a fixed release).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

__all__ = ["apply", "patch_mujoco_utils", "enum_compare_is_broken"]

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


def apply() -> bool:
    """Import gymnasium-robotics' ``mujoco_utils`` and patch it (:func:`patch_mujoco_utils`).

    Called by the env factory before it makes a gymnasium-robotics env; call it yourself
    before ``gym.make("FrankaKitchen-v1")`` outside the factory. Idempotent.

    Raises:
        ImportError: gymnasium-robotics is not installed.
    """
    from gymnasium_robotics.utils import mujoco_utils

    return patch_mujoco_utils(mujoco_utils)

import os

import torch

# Triton reads TRITON_INTERPRET when it is first imported (tensordict imports it early), so the
# kernels' CPU interpreter must be chosen here, before anything else loads.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
from tensordict import TensorDict  # noqa: E402

# Two cores here: more intra-op threads than cores makes small updates ~20x slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def random_transitions(batch_size: int, obs_dim: int, action_dim: int) -> TensorDict:
    """A replay batch with every key the losses read (``mc_return`` included)."""
    return TensorDict(
        {
            "observation": torch.randn(batch_size, obs_dim),
            "action": torch.rand(batch_size, action_dim) * 2 - 1,
            "mc_return": torch.randn(batch_size, 1),
            "next": {
                "observation": torch.randn(batch_size, obs_dim),
                "reward": torch.randn(batch_size, 1),
                "terminated": torch.rand(batch_size, 1) < 0.3,
                "done": torch.zeros(batch_size, 1, dtype=torch.bool),
            },
        },
        [batch_size],
    )


@pytest.fixture
def make_transitions():
    """``make_transitions(batch_size, obs_dim, action_dim)``: see :func:`random_transitions`."""
    return random_transitions

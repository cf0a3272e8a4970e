import pytest
import torch
from tensordict import TensorDict

OBS, ACT = 5, 2


def make_batch(batch_size: int = 8, obs_dim: int = OBS, action_dim: int = ACT) -> TensorDict:
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
def batch():
    return make_batch()


import os

import torch

# Triton reads TRITON_INTERPRET when it is first imported (tensordict imports it early), so the
# kernels' CPU interpreter must be chosen here, before anything else loads.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

from torchrl_wsrl.testing import random_transitions  # noqa: E402

# Two cores here: more intra-op threads than cores makes small updates ~20x slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def make_transitions():
    """``make_transitions(batch_size, obs_dim, action_dim)``: see :func:`torchrl_wsrl.testing.random_transitions`."""
    return random_transitions

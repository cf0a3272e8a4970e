import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # support.py, the helpers of tests and benchmarks

# Triton reads TRITON_INTERPRET when it is first imported (tensordict imports it early), so the
# kernels' CPU interpreter must be chosen here, before anything else loads.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

from support import random_transitions  # noqa: E402

# Two cores here: more intra-op threads than cores makes small updates ~20x slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def make_transitions():
    """``make_transitions(batch_size, obs_dim, action_dim)``: see :func:`support.random_transitions`."""
    return random_transitions

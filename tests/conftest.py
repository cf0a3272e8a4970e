
import pytest
import torch

# Two cores here: more intra-op threads than cores makes small updates ~20x slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

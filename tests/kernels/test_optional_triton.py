import os
import subprocess
import sys

# Hiding triton must leave the package importable with working references and a clear error.
_WITHOUT_TRITON = """
import sys
sys.modules["triton"] = None
import pytest
import torch
import torchrl_wsrl.kernels as kernels

assert not kernels.triton_available()
q = torch.zeros(2, 3, 1)
loss, y = kernels.td_loss_reference(torch.zeros(1, 3, 1), torch.ones(3, 1), torch.zeros(3, 1), 0.99, q)
assert loss.item() == 1.0
with pytest.raises(RuntimeError, match="triton is not installed"):
    kernels.td_loss_triton(torch.zeros(1, 3, 1), torch.ones(3, 1), torch.zeros(3, 1), 0.99, q)
"""


def test_imports_without_triton():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run([sys.executable, "-c", _WITHOUT_TRITON], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

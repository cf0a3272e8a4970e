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
x, w = torch.randn(5, 3), torch.randn(2, 3, 4)
b, g, s = torch.randn(2, 4), torch.ones(2, 4), torch.zeros(2, 4)
assert kernels.ensemble_layer_reference(x, w, b, g, s).shape == (2, 5, 4)
with pytest.raises(RuntimeError, match="triton is not installed"):
    kernels.ensemble_layer_triton(x, w, b, g, s)
"""


def test_imports_without_triton():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run([sys.executable, "-c", _WITHOUT_TRITON], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

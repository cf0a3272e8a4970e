"""Shared setup for the kernel tests: interpreter mode without a GPU, device, NaN-poisoned buffers."""

import os

import pytest
import torch

# triton.jit picks the interpreter or the compiler when a function is defined, and triton's own
# library (tl.sum, ...) is defined when triton is first imported, so the variable must be set
# before that; pytest loads this file before the test modules here. With a GPU the compiled
# kernels, the ones that ship, are tested instead.
if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture
def device():
    """The device the kernels run on; fails, rather than skips, when they cannot run."""
    from torchrl_wsrl.kernels import triton_available

    if not triton_available():
        pytest.fail(
            "the Triton kernels cannot run: without a GPU, TRITON_INTERPRET=1 must be set before "
            "triton is first imported (tensordict imports it); set it at the top of "
            "tests/conftest.py, or run tests/kernels alone"
        )
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture
def nan_buffers(monkeypatch):
    """Fill every torch.empty / torch.empty_like buffer with NaN while the test runs, so that an
    output element a kernel forgets to write fails the comparison instead of passing by luck."""

    def poisoned(allocate):
        def allocate_nan(*args, **kwargs):
            tensor = allocate(*args, **kwargs)
            if tensor.is_floating_point():
                tensor.fill_(float("nan"))
            return tensor

        return allocate_nan

    monkeypatch.setattr(torch, "empty", poisoned(torch.empty))
    monkeypatch.setattr(torch, "empty_like", poisoned(torch.empty_like))
    assert torch.empty(1).isnan().all()


@pytest.fixture
def assert_close_f32():
    """Compare a float32 kernel result with a float64 reference: errors grow with the magnitude
    of the result (sums over the batch), so the absolute tolerance scales with it."""

    def check(actual, expected):
        expected = expected.to(actual.dtype)
        scale = max(1.0, expected.abs().max().item())
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale)

    return check

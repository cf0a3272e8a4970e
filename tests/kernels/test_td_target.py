import importlib.util

import pytest
import torch

from torchrl_wsrl.kernels import td_loss_reference, td_loss_triton

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")


def _random_batch(num_subsampled, num_critics, batch, terminated_dtype, device):
    terminated = torch.rand(batch, 1, device=device) < 0.3
    return (
        torch.randn(num_subsampled, batch, 1, device=device),
        torch.randn(batch, 1, device=device),
        terminated.to(terminated_dtype),
        torch.randn(num_critics, batch, 1, device=device),
    )


@needs_triton
# batch 1500 takes two steps of the kernel's 1024-row block.
@pytest.mark.parametrize("num_subsampled, num_critics, batch", [(1, 2, 1), (2, 10, 37), (2, 10, 256), (3, 2, 1500)])
@pytest.mark.parametrize("terminated_dtype", [torch.bool, torch.float32])
def test_matches_reference(num_subsampled, num_critics, batch, terminated_dtype, device, nan_buffers,
                           assert_close_f32):
    next_q, reward, terminated, q = _random_batch(num_subsampled, num_critics, batch, terminated_dtype, device)
    gamma = 0.99
    q.requires_grad_()
    loss, y = td_loss_triton(next_q, reward, terminated, gamma, q)
    q_ref = q.detach().double().requires_grad_()
    ref_loss, ref_y = td_loss_reference(next_q.double(), reward.double(), terminated, gamma, q_ref)
    assert loss.shape == () and y.shape == (batch, 1)
    assert not y.requires_grad
    assert_close_f32(y, ref_y)
    assert_close_f32(loss, ref_loss)

    # A non-unit upstream gradient checks that the backward scales by it.
    upstream = torch.rand((), device=device) + 0.5
    (grad_q,) = torch.autograd.grad(loss * upstream, [q])
    (ref_grad_q,) = torch.autograd.grad(ref_loss * upstream.double(), [q_ref])
    assert_close_f32(grad_q, ref_grad_q)


def test_reference_by_hand():
    next_q = torch.tensor([[[1.0], [4.0]], [[2.0], [3.0]]])
    reward = torch.tensor([[0.5], [1.0]])
    terminated = torch.tensor([[False], [True]])
    q = torch.tensor([[[1.0], [1.0]]])
    loss, y = td_loss_reference(next_q, reward, terminated, 0.5, q)
    torch.testing.assert_close(y, torch.tensor([[1.0], [1.0]]))
    torch.testing.assert_close(loss, torch.tensor(0.0))


@pytest.mark.parametrize(
    "name, next_q_shape, reward_shape, terminated_shape, q_shape",
    [
        ("q", (2, 4, 1), (4, 1), (4, 1), (3, 4)),
        ("next_q", (2, 5, 1), (4, 1), (4, 1), (3, 4, 1)),
        ("next_q", (0, 4, 1), (4, 1), (4, 1), (3, 4, 1)),
        ("reward", (2, 4, 1), (4,), (4, 1), (3, 4, 1)),
        ("terminated", (2, 4, 1), (4, 1), (5, 1), (3, 4, 1)),
    ],
)
@pytest.mark.parametrize("td_loss", [td_loss_reference, td_loss_triton])
def test_bad_shapes_raise(td_loss, name, next_q_shape, reward_shape, terminated_shape, q_shape):
    with pytest.raises(ValueError, match=name):
        td_loss(torch.zeros(next_q_shape), torch.zeros(reward_shape), torch.zeros(terminated_shape), 0.99,
                torch.zeros(q_shape))

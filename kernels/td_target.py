"""Fused TD target and critic loss for the ensemble critic update.

The target is SAC's clipped double-Q target (Haarnoja et al. 2018) taken over a random subset of
the target critics, as in REDQ (Chen et al. 2021) and WSRL's online phase (Zhou et al., ICLR 2025,
"Efficient Online Reinforcement Learning Fine-Tuning Need Not Retain Offline Data"):
``y = r + gamma * (1 - terminated) * min_s Q_target_s(s', a')``, and the critic loss is the mean
squared TD error over all critics and transitions.
"""

import torch

from ._triton import HAS_TRITON, check_launchable, tl, triton

# Critic batches are a few hundred transitions: one program covers the whole batch in a handful
# of BLOCK_B steps, which keeps the loss a deterministic in-register sum with a single launch.
_BLOCK_B = 1024


def _check_shapes(next_q, reward, terminated, q) -> tuple[int, int, int]:
    """Return ``(S, E, B)`` or raise ValueError naming the first inconsistent argument."""
    if q.dim() != 3 or q.shape[2] != 1 or q.shape[0] == 0:
        raise ValueError(f"q must be [E, B, 1] with E >= 1, got {tuple(q.shape)}")
    num_critics, batch, _ = q.shape
    if next_q.dim() != 3 or next_q.shape[1:] != (batch, 1) or next_q.shape[0] == 0:
        raise ValueError(f"next_q must be [S, {batch}, 1] with S >= 1, got {tuple(next_q.shape)}")
    for name, tensor in (("reward", reward), ("terminated", terminated)):
        if tensor.shape != (batch, 1):
            raise ValueError(f"{name} must be [{batch}, 1], got {tuple(tensor.shape)}")
    return next_q.shape[0], num_critics, batch


def td_loss_reference(next_q, reward, terminated, gamma, q):
    """Plain PyTorch TD target and mean squared critic loss.

    Args:
        next_q: ``[S, B, 1]`` Q values of the S subsampled target critics at ``(s', a')``.
        reward: ``[B, 1]``.
        terminated: ``[B, 1]``, bool or float (1 where the episode ended, not truncated).
        gamma: discount factor, a Python float.
        q: ``[E, B, 1]`` current critics' Q values at ``(s, a)``.

    Returns:
        ``(loss, y)``: the scalar ``mean_{e,b} (q - y)^2`` and the target ``y`` ``[B, 1]``,
        which carries no gradient.

    Raises:
        ValueError: on inconsistent shapes.
    """
    _check_shapes(next_q, reward, terminated, q)
    with torch.no_grad():
        continuing = 1 - terminated.to(reward.dtype)
        y = reward + gamma * continuing * next_q.min(dim=0).values
    return (q - y).pow(2).mean(), y


def td_loss_triton(next_q, reward, terminated, gamma, q):
    """Fused Triton TD target and critic loss; matches :func:`td_loss_reference`.

    Args and returns as :func:`td_loss_reference`; float32 tensors (``terminated`` may be bool).
    The backward gives ``dq = 2 (q - y) / (E B)`` times the incoming gradient.

    Raises:
        ValueError: on inconsistent shapes.
        TypeError: on non-float32 inputs.
        RuntimeError: when triton is missing, or for CPU tensors without ``TRITON_INTERPRET=1``.
    """
    _check_shapes(next_q, reward, terminated, q)
    check_launchable(next_q, reward, q)
    if terminated.dtype not in (torch.bool, torch.float32):
        raise TypeError(f"terminated must be bool or float32, got {terminated.dtype}")
    return _TDLoss.apply(next_q, reward, terminated, float(gamma), q)


class _TDLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, next_q, reward, terminated, gamma, q):
        loss, y = _launch_forward(next_q, reward, terminated, gamma, q)
        ctx.mark_non_differentiable(y)
        ctx.save_for_backward(q, y)
        return loss, y

    @staticmethod
    def backward(ctx, grad_loss, grad_y):
        q, y = ctx.saved_tensors
        return None, None, None, None, _launch_backward(grad_loss, q, y)


def _launch_forward(next_q, reward, terminated, gamma, q):
    num_subsampled, num_critics, batch = next_q.shape[0], q.shape[0], q.shape[1]
    y = torch.empty_like(reward, memory_format=torch.contiguous_format)
    loss = torch.empty((), device=q.device, dtype=q.dtype)
    _td_loss_kernel[(1,)](
        next_q, reward, terminated, q, y, loss, gamma,
        num_subsampled, num_critics, batch,
        next_q.stride(0), next_q.stride(1), reward.stride(0), terminated.stride(0), q.stride(0), q.stride(1),
        BLOCK_B=_BLOCK_B,
    )
    return loss, y


def _launch_backward(grad_loss, q, y):
    num_critics, batch, _ = q.shape
    grad_q = torch.empty(num_critics, batch, 1, device=q.device, dtype=q.dtype)
    _td_loss_backward_kernel[(triton.cdiv(batch, _BLOCK_B), num_critics)](
        grad_loss, q, y, grad_q, num_critics, batch, q.stride(0), q.stride(1),
        BLOCK_B=_BLOCK_B,
    )
    return grad_q


if HAS_TRITON:

    @triton.jit
    def _td_loss_kernel(
        next_q_ptr, reward_ptr, terminated_ptr, q_ptr, y_ptr, loss_ptr, gamma,
        S, E, B,
        stride_ns, stride_nb, stride_r, stride_t, stride_qe, stride_qb,
        BLOCK_B: tl.constexpr,
    ):
        squared_error = tl.zeros((BLOCK_B,), dtype=tl.float32)
        for b0 in range(0, B, BLOCK_B):
            rows = b0 + tl.arange(0, BLOCK_B)
            ok = rows < B
            min_next_q = tl.full((BLOCK_B,), float("inf"), dtype=tl.float32)
            for s in range(S):
                next_q = tl.load(next_q_ptr + s * stride_ns + rows * stride_nb, mask=ok, other=0.0)
                min_next_q = tl.minimum(min_next_q, next_q)
            reward = tl.load(reward_ptr + rows * stride_r, mask=ok, other=0.0)
            done = tl.load(terminated_ptr + rows * stride_t, mask=ok, other=0).to(tl.float32)
            y = reward + gamma * (1.0 - done) * min_next_q
            tl.store(y_ptr + rows, y, mask=ok)
            for e in range(E):
                q = tl.load(q_ptr + e * stride_qe + rows * stride_qb, mask=ok, other=0.0)
                error = tl.where(ok, q - y, 0.0)
                squared_error += error * error
        tl.store(loss_ptr, tl.sum(squared_error, axis=0) / (E * B))

    @triton.jit
    def _td_loss_backward_kernel(
        grad_loss_ptr, q_ptr, y_ptr, dq_ptr,
        E, B, stride_qe, stride_qb,
        BLOCK_B: tl.constexpr,
    ):
        e = tl.program_id(1)
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
        ok = rows < B
        scale = tl.load(grad_loss_ptr) * 2.0 / (E * B)
        q = tl.load(q_ptr + e * stride_qe + rows * stride_qb, mask=ok, other=0.0)
        y = tl.load(y_ptr + rows, mask=ok, other=0.0)
        tl.store(dq_ptr + e * B + rows, (q - y) * scale, mask=ok)

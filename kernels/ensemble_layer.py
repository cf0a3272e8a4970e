"""Fused critic-ensemble hidden layer ``relu(layernorm(x @ W + b))`` for E critics at once.

One program owns ``BLOCK_M`` batch rows of one critic and the whole row of ``out`` features, so
the LayerNorm statistics (Ba et al. 2016, "Layer Normalization", eq. 4) are computed in registers
right after the matmul, without writing the pre-activation to memory.

The backward runs four kernels: per-row LayerNorm/ReLU backward (the gradient ``dz`` of the
pre-activation), per-critic column sums over the batch (``db``, ``dgamma``, ``dbeta``), and two
batched GEMMs, ``dW = x^T dz`` and ``dX = dz W^T`` (summed over critics when x is shared).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from ._triton import HAS_TRITON, autotune_configs, check_launchable, dot_precision, tl, triton

# One program holds a [BLOCK_M, next_power_of_2(out)] tile in registers for the LayerNorm, and the
# matching weight tile in shared memory; wider rows would not fit a GPU program.
_MAX_OUT_FEATURES = 1024


def _check_shapes(x, weight, bias, ln_weight, ln_bias) -> tuple[int, int, int, int]:
    """Return ``(E, B, in, out)`` or raise ValueError naming the first inconsistent argument."""
    if weight.dim() != 3:
        raise ValueError(f"weight must be [E, in, out], got shape {tuple(weight.shape)}")
    num_critics, in_features, out_features = weight.shape
    if x.dim() not in (2, 3) or x.shape[-1] != in_features:
        raise ValueError(f"x must be [B, {in_features}] or [E, B, {in_features}], got {tuple(x.shape)}")
    if x.dim() == 3 and x.shape[0] != num_critics:
        raise ValueError(f"x has {x.shape[0]} critics, weight has {num_critics}")
    for name, param in (("bias", bias), ("ln_weight", ln_weight), ("ln_bias", ln_bias)):
        if param.shape != (num_critics, out_features):
            raise ValueError(f"{name} must be [{num_critics}, {out_features}], got {tuple(param.shape)}")
    return num_critics, x.shape[-2], in_features, out_features


def ensemble_layer_reference(x, weight, bias, ln_weight, ln_bias, eps=1e-6):
    """Plain PyTorch ensemble layer ``relu(layernorm(x @ W + b) * gamma + beta)`` per critic.

    Args:
        x: ``[B, in]`` (shared by all critics) or ``[E, B, in]`` (one input per critic).
        weight: ``[E, in, out]``.
        bias, ln_weight, ln_bias: ``[E, out]``; ``ln_weight``/``ln_bias`` are the LayerNorm gain
            and shift of Ba et al. 2016, eq. 4.
        eps: added to the variance before the square root.

    Returns:
        ``[E, B, out]`` in the dtype of the inputs.

    Raises:
        ValueError: on inconsistent shapes.
    """
    num_critics, batch, in_features, out_features = _check_shapes(x, weight, bias, ln_weight, ln_bias)
    x = x.expand(num_critics, batch, in_features)
    pre_activation = torch.baddbmm(bias[:, None, :], x, weight)
    normalized = F.layer_norm(pre_activation, (out_features,), eps=eps)
    return _relu(normalized * ln_weight[:, None, :] + ln_bias[:, None, :])


def _relu(h):
    """``relu(h)``, with ReLU's gradient (0 at 0), in the form that runs fastest eager and compiled.

    Compiled, inductor saves ``torch.relu``'s backward mask as a bool tensor, and its CPU code
    stores bool vectors ~35x slower than float ones (torch 2.13, [10, 256, 256]: 9.5 ms against
    0.26 ms); from ``where`` the backward recomputes the mask from saved floats instead, and a
    10-critic 2x256 forward + backward drops from 29 ms to 18 ms. Eager, ``relu`` is fastest
    (0.7 ms forward + backward against 5 ms for ``where``).
    """
    if torch.compiler.is_compiling():
        return torch.where(h > 0, h, 0.0)
    return torch.relu(h)


def ensemble_layer_triton(x, weight, bias, ln_weight, ln_bias, eps=1e-6):
    """Fused Triton ensemble layer, forward and backward; matches :func:`ensemble_layer_reference`.

    Args and returns as :func:`ensemble_layer_reference`, float32 only, ``out <= 1024``. The
    gradient of a shared ``[B, in]`` x is summed over the critics. The launchers are registered
    as the custom ops ``torchrl_wsrl::ensemble_layer_forward`` / ``_backward``, so
    ``torch.compile`` keeps them as opaque calls in its graphs (no graph break) and CUDA graphs
    capture their launches.

    Raises:
        ValueError: on inconsistent shapes or ``out > 1024``.
        TypeError: on non-float32 inputs.
        RuntimeError: when triton is missing, or for CPU tensors without ``TRITON_INTERPRET=1``.
    """
    _check_shapes(x, weight, bias, ln_weight, ln_bias)
    if weight.shape[2] > _MAX_OUT_FEATURES:
        raise ValueError(f"weight has {weight.shape[2]} out features, the kernel takes <= {_MAX_OUT_FEATURES}")
    check_launchable(x, weight, bias, ln_weight, ln_bias)
    inputs = (x, weight, bias, ln_weight, ln_bias)
    # Target critics run under no_grad: skip writing the statistics only a backward would read.
    save_stats = torch.is_grad_enabled() and any(t.requires_grad for t in inputs)
    return _forward_op(*inputs, eps, save_stats)[0]


@torch.library.custom_op("torchrl_wsrl::ensemble_layer_forward", mutates_args=())
def _forward_op(
    x: Tensor, weight: Tensor, bias: Tensor, ln_weight: Tensor, ln_bias: Tensor, eps: float, save_stats: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """``(out [E, B, out], xhat [E, B, out], rstd [E, B])``; without ``save_stats`` the last two
    are empty (a custom op returns a fixed number of tensors)."""
    out, xhat, rstd = _launch_forward(x, weight, bias, ln_weight, ln_bias, eps, save_stats)
    if not save_stats:
        xhat, rstd = out.new_empty(0), out.new_empty(0)
    return out, xhat, rstd


@_forward_op.register_fake
def _(x, weight, bias, ln_weight, ln_bias, eps, save_stats):
    num_critics, batch, out_features = weight.shape[0], x.shape[-2], weight.shape[2]
    out = x.new_empty(num_critics, batch, out_features)
    if not save_stats:
        return out, x.new_empty(0), x.new_empty(0)
    return out, torch.empty_like(out), x.new_empty(num_critics, batch)


@torch.library.custom_op("torchrl_wsrl::ensemble_layer_backward", mutates_args=())
def _backward_op(
    grad_out: Tensor, x: Tensor, weight: Tensor, ln_weight: Tensor, out: Tensor, xhat: Tensor, rstd: Tensor,
    needs_x: bool, needs_weight: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(grad_x, grad_weight, grad_bias, grad_ln_weight, grad_ln_bias)``; ``grad_x`` and
    ``grad_weight`` are empty unless asked for: the dX and dW GEMMs are most of the cost."""
    grad_pre = _launch_backward_rows(grad_out, out, xhat, rstd, ln_weight)
    grad_bias, grad_ln_weight, grad_ln_bias = _launch_backward_params(grad_out, out, xhat, grad_pre)
    grad_weight = _launch_backward_weight(x, grad_pre) if needs_weight else x.new_empty(0)
    grad_x = _launch_backward_input(grad_pre, weight, x) if needs_x else x.new_empty(0)
    return grad_x, grad_weight, grad_bias, grad_ln_weight, grad_ln_bias


@_backward_op.register_fake
def _(grad_out, x, weight, ln_weight, out, xhat, rstd, needs_x, needs_weight):
    grad_x = torch.empty_like(x, memory_format=torch.contiguous_format) if needs_x else x.new_empty(0)
    grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format) if needs_weight else x.new_empty(0)
    return grad_x, grad_weight, *(torch.empty_like(ln_weight, memory_format=torch.contiguous_format) for _ in range(3))


# Saves the normalized pre-activation xhat and rstd rather than recomputing them: recomputing
# would rerun the x @ W GEMM, the dominant cost, to spare one [E, B, out] buffer, which is cheap
# at critic sizes. The ReLU mask comes from the saved output, which the next layer keeps alive as
# its input anyway.
def _setup_context(ctx, inputs, output):
    x, weight, _, ln_weight, *_ = inputs
    out, xhat, rstd = output
    ctx.save_for_backward(x, weight, ln_weight, out, xhat, rstd)


def _backward(ctx, grad_out, _grad_xhat, _grad_rstd):
    needs_x, needs_weight = ctx.needs_input_grad[:2]
    grad_x, grad_weight, *grad_params = _backward_op(grad_out, *ctx.saved_tensors, needs_x, needs_weight)
    return (grad_x if needs_x else None), (grad_weight if needs_weight else None), *grad_params, None, None


_forward_op.register_autograd(_backward, setup_context=_setup_context)


def _x_strides(x):
    """(critic, row, feature) strides of x; a shared x repeats for every critic with stride 0."""
    if x.dim() == 2:
        return 0, x.stride(0), x.stride(1)
    return x.stride(0), x.stride(1), x.stride(2)


def _launch_forward(x, weight, bias, ln_weight, ln_bias, eps, save_stats):
    num_critics, in_features, out_features = weight.shape
    batch = x.shape[-2]
    out = torch.empty(num_critics, batch, out_features, device=x.device, dtype=x.dtype)
    if save_stats:
        xhat = torch.empty_like(out)
        rstd = torch.empty(num_critics, batch, device=x.device, dtype=x.dtype)
    else:
        # Never written (SAVE_STATS is False), but the kernel signature needs pointers.
        xhat, rstd = out, out

    def grid(meta):
        return triton.cdiv(batch, meta["BLOCK_M"]), num_critics

    _forward_kernel[grid](
        x, weight, bias.contiguous(), ln_weight.contiguous(), ln_bias.contiguous(), out, xhat, rstd,
        batch, in_features, out_features, eps,
        *_x_strides(x), *weight.stride(),
        BLOCK_N=triton.next_power_of_2(out_features), SAVE_STATS=save_stats, DOT_PRECISION=dot_precision(),
    )
    return out, (xhat if save_stats else None), (rstd if save_stats else None)


def _launch_backward_rows(grad_out, out, xhat, rstd, ln_weight):
    num_critics, batch, out_features = out.shape
    grad_pre = torch.empty_like(out)

    def grid(meta):
        return triton.cdiv(batch, meta["BLOCK_M"]), num_critics

    _backward_rows_kernel[grid](
        grad_out, out, xhat, rstd, ln_weight.contiguous(), grad_pre,
        batch, out_features, *grad_out.stride(),
        BLOCK_N=triton.next_power_of_2(out_features),
    )
    return grad_pre


def _launch_backward_params(grad_out, out, xhat, grad_pre):
    num_critics, batch, out_features = out.shape
    grad_bias, grad_ln_weight, grad_ln_bias = (
        torch.empty(num_critics, out_features, device=out.device, dtype=out.dtype) for _ in range(3)
    )

    def grid(meta):
        return triton.cdiv(out_features, meta["BLOCK_N"]), num_critics

    _backward_params_kernel[grid](
        grad_out, out, xhat, grad_pre, grad_bias, grad_ln_weight, grad_ln_bias,
        batch, out_features, *grad_out.stride(),
    )
    return grad_bias, grad_ln_weight, grad_ln_bias


def _launch_backward_weight(x, grad_pre):
    num_critics, batch, out_features = grad_pre.shape
    in_features = x.shape[-1]
    grad_weight = torch.empty(num_critics, in_features, out_features, device=x.device, dtype=x.dtype)

    def grid(meta):
        return (
            triton.cdiv(in_features, meta["BLOCK_K"]) * triton.cdiv(out_features, meta["BLOCK_N"]),
            num_critics,
        )

    _backward_weight_kernel[grid](
        x, grad_pre, grad_weight, batch, in_features, out_features, *_x_strides(x),
        DOT_PRECISION=dot_precision(),
    )
    return grad_weight


def _launch_backward_input(grad_pre, weight, x):
    num_critics, batch, out_features = grad_pre.shape
    in_features = weight.shape[1]
    grad_x = torch.empty_like(x, memory_format=torch.contiguous_format)
    # A shared x gets one program column that sums over all critics: no atomics, deterministic.
    critics_per_program = num_critics if x.dim() == 2 else 1

    def grid(meta):
        return (
            triton.cdiv(batch, meta["BLOCK_M"]) * triton.cdiv(in_features, meta["BLOCK_K"]),
            num_critics // critics_per_program,
        )

    _backward_input_kernel[grid](
        grad_pre, weight, grad_x, batch, in_features, out_features, critics_per_program, *weight.stride(),
        DOT_PRECISION=dot_precision(),
    )
    return grad_x


if HAS_TRITON:

    @triton.autotune(
        configs=autotune_configs(
            {"BLOCK_M": 128, "BLOCK_K": 64},
            [
                ({"BLOCK_M": 16, "BLOCK_K": 32}, 4, 3),
                ({"BLOCK_M": 32, "BLOCK_K": 32}, 4, 3),
                ({"BLOCK_M": 32, "BLOCK_K": 16}, 8, 2),
                ({"BLOCK_M": 64, "BLOCK_K": 32}, 8, 3),
                ({"BLOCK_M": 64, "BLOCK_K": 16}, 8, 2),
            ],
        ),
        key=["B", "K", "N"],
    )
    @triton.jit
    def _forward_kernel(
        x_ptr, w_ptr, b_ptr, g_ptr, beta_ptr, out_ptr, xhat_ptr, rstd_ptr,
        B, K, N, eps,
        stride_xe, stride_xb, stride_xk,
        stride_we, stride_wk, stride_wn,
        BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_N: tl.constexpr,
        SAVE_STATS: tl.constexpr, DOT_PRECISION: tl.constexpr,
    ):
        pid_m = tl.program_id(0)
        e = tl.program_id(1)
        rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        cols = tl.arange(0, BLOCK_N)
        ks = tl.arange(0, BLOCK_K)
        row_ok = rows < B
        col_ok = cols < N

        x_ptrs = x_ptr + e * stride_xe + rows[:, None] * stride_xb + ks[None, :] * stride_xk
        w_ptrs = w_ptr + e * stride_we + ks[:, None] * stride_wk + cols[None, :] * stride_wn
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, K, BLOCK_K):
            k_ok = k0 + ks < K
            x_tile = tl.load(x_ptrs, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
            w_tile = tl.load(w_ptrs, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
            acc = tl.dot(x_tile, w_tile, acc, input_precision=DOT_PRECISION)
            x_ptrs += BLOCK_K * stride_xk
            w_ptrs += BLOCK_K * stride_wk

        # Padded columns hold 0 (masked loads), so they drop out of the sums; divide by N, not BLOCK_N.
        pre = acc + tl.load(b_ptr + e * N + cols, mask=col_ok, other=0.0)[None, :]
        mean = tl.sum(pre, axis=1) / N
        centered = tl.where(col_ok[None, :], pre - mean[:, None], 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(centered * centered, axis=1) / N + eps)
        xhat = centered * rstd[:, None]
        gamma = tl.load(g_ptr + e * N + cols, mask=col_ok, other=0.0)
        beta = tl.load(beta_ptr + e * N + cols, mask=col_ok, other=0.0)
        out = tl.maximum(xhat * gamma[None, :] + beta[None, :], 0.0)

        offsets = e * B * N + rows[:, None] * N + cols[None, :]
        mask = row_ok[:, None] & col_ok[None, :]
        tl.store(out_ptr + offsets, out, mask=mask)
        if SAVE_STATS:
            tl.store(xhat_ptr + offsets, xhat, mask=mask)
            tl.store(rstd_ptr + e * B + rows, rstd, mask=row_ok)

    @triton.autotune(
        configs=autotune_configs(
            {"BLOCK_M": 128},
            [({"BLOCK_M": 4}, 4, 1), ({"BLOCK_M": 8}, 4, 1), ({"BLOCK_M": 16}, 8, 1), ({"BLOCK_M": 32}, 8, 1)],
        ),
        key=["B", "N"],
    )
    @triton.jit
    def _backward_rows_kernel(
        dy_ptr, out_ptr, xhat_ptr, rstd_ptr, g_ptr, dpre_ptr,
        B, N,
        stride_dye, stride_dyb, stride_dyn,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    ):
        pid_m = tl.program_id(0)
        e = tl.program_id(1)
        rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        cols = tl.arange(0, BLOCK_N)
        row_ok = rows < B
        col_ok = cols < N
        mask = row_ok[:, None] & col_ok[None, :]
        offsets = e * B * N + rows[:, None] * N + cols[None, :]

        dy = tl.load(dy_ptr + e * stride_dye + rows[:, None] * stride_dyb + cols[None, :] * stride_dyn,
                     mask=mask, other=0.0)
        out = tl.load(out_ptr + offsets, mask=mask, other=0.0)
        xhat = tl.load(xhat_ptr + offsets, mask=mask, other=0.0)
        rstd = tl.load(rstd_ptr + e * B + rows, mask=row_ok, other=0.0)
        gamma = tl.load(g_ptr + e * N + cols, mask=col_ok, other=0.0)

        # ReLU passes gradient where its output is positive (torch's convention at exactly 0).
        grad_xhat = tl.where(out > 0.0, dy, 0.0) * gamma[None, :]
        mean_grad = tl.sum(grad_xhat, axis=1) / N
        mean_grad_xhat = tl.sum(grad_xhat * xhat, axis=1) / N
        grad_pre = (grad_xhat - mean_grad[:, None] - xhat * mean_grad_xhat[:, None]) * rstd[:, None]
        tl.store(dpre_ptr + offsets, grad_pre, mask=mask)

    @triton.autotune(
        configs=autotune_configs(
            {"BLOCK_M": 128, "BLOCK_N": 128},
            [
                ({"BLOCK_M": 32, "BLOCK_N": 32}, 4, 1),
                ({"BLOCK_M": 64, "BLOCK_N": 32}, 4, 1),
                ({"BLOCK_M": 32, "BLOCK_N": 64}, 4, 1),
                ({"BLOCK_M": 64, "BLOCK_N": 128}, 8, 1),
            ],
        ),
        key=["B", "N"],
    )
    @triton.jit
    def _backward_params_kernel(
        dy_ptr, out_ptr, xhat_ptr, dpre_ptr, db_ptr, dg_ptr, dbeta_ptr,
        B, N,
        stride_dye, stride_dyb, stride_dyn,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    ):
        pid_n = tl.program_id(0)
        e = tl.program_id(1)
        cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        col_ok = cols < N
        # Column sums over the batch: one program walks all rows of its columns, so no atomics.
        sum_dpre = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        sum_dh_xhat = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        sum_dh = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for m0 in range(0, B, BLOCK_M):
            rows = m0 + tl.arange(0, BLOCK_M)
            mask = (rows < B)[:, None] & col_ok[None, :]
            offsets = e * B * N + rows[:, None] * N + cols[None, :]
            dy = tl.load(dy_ptr + e * stride_dye + rows[:, None] * stride_dyb + cols[None, :] * stride_dyn,
                         mask=mask, other=0.0)
            out = tl.load(out_ptr + offsets, mask=mask, other=0.0)
            dh = tl.where(out > 0.0, dy, 0.0)
            sum_dh += dh
            sum_dh_xhat += dh * tl.load(xhat_ptr + offsets, mask=mask, other=0.0)
            sum_dpre += tl.load(dpre_ptr + offsets, mask=mask, other=0.0)
        tl.store(db_ptr + e * N + cols, tl.sum(sum_dpre, axis=0), mask=col_ok)
        tl.store(dg_ptr + e * N + cols, tl.sum(sum_dh_xhat, axis=0), mask=col_ok)
        tl.store(dbeta_ptr + e * N + cols, tl.sum(sum_dh, axis=0), mask=col_ok)

    @triton.autotune(
        configs=autotune_configs(
            {"BLOCK_M": 128, "BLOCK_K": 64, "BLOCK_N": 128},
            [
                ({"BLOCK_M": 32, "BLOCK_K": 32, "BLOCK_N": 64}, 4, 3),
                ({"BLOCK_M": 32, "BLOCK_K": 16, "BLOCK_N": 128}, 4, 3),
                ({"BLOCK_M": 64, "BLOCK_K": 32, "BLOCK_N": 32}, 4, 3),
                ({"BLOCK_M": 64, "BLOCK_K": 64, "BLOCK_N": 64}, 8, 2),
            ],
        ),
        key=["B", "K", "N"],
    )
    @triton.jit
    def _backward_weight_kernel(
        x_ptr, dpre_ptr, dw_ptr,
        B, K, N,
        stride_xe, stride_xb, stride_xk,
        BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_N: tl.constexpr,
        DOT_PRECISION: tl.constexpr,
    ):
        num_n_blocks = tl.cdiv(N, BLOCK_N)
        pid_k = tl.program_id(0) // num_n_blocks
        pid_n = tl.program_id(0) % num_n_blocks
        e = tl.program_id(1)
        ks = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
        cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        k_ok = ks < K
        col_ok = cols < N

        acc = tl.zeros((BLOCK_K, BLOCK_N), dtype=tl.float32)
        for m0 in range(0, B, BLOCK_M):
            rows = m0 + tl.arange(0, BLOCK_M)
            row_ok = rows < B
            x_t = tl.load(x_ptr + e * stride_xe + ks[:, None] * stride_xk + rows[None, :] * stride_xb,
                          mask=k_ok[:, None] & row_ok[None, :], other=0.0)
            dpre = tl.load(dpre_ptr + e * B * N + rows[:, None] * N + cols[None, :],
                           mask=row_ok[:, None] & col_ok[None, :], other=0.0)
            acc = tl.dot(x_t, dpre, acc, input_precision=DOT_PRECISION)
        tl.store(dw_ptr + e * K * N + ks[:, None] * N + cols[None, :], acc,
                 mask=k_ok[:, None] & col_ok[None, :])

    @triton.autotune(
        configs=autotune_configs(
            {"BLOCK_M": 128, "BLOCK_K": 64, "BLOCK_N": 128},
            [
                ({"BLOCK_M": 32, "BLOCK_K": 32, "BLOCK_N": 64}, 4, 3),
                ({"BLOCK_M": 64, "BLOCK_K": 16, "BLOCK_N": 64}, 4, 3),
                ({"BLOCK_M": 64, "BLOCK_K": 32, "BLOCK_N": 32}, 4, 3),
                ({"BLOCK_M": 16, "BLOCK_K": 32, "BLOCK_N": 128}, 4, 2),
            ],
        ),
        key=["B", "K", "N"],
    )
    @triton.jit
    def _backward_input_kernel(
        dpre_ptr, w_ptr, dx_ptr,
        B, K, N, critics_per_program,
        stride_we, stride_wk, stride_wn,
        BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_N: tl.constexpr,
        DOT_PRECISION: tl.constexpr,
    ):
        num_k_blocks = tl.cdiv(K, BLOCK_K)
        pid_m = tl.program_id(0) // num_k_blocks
        pid_k = tl.program_id(0) % num_k_blocks
        pid_e = tl.program_id(1)
        rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        ks = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
        row_ok = rows < B
        k_ok = ks < K

        acc = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
        for i in range(critics_per_program):
            e = pid_e * critics_per_program + i
            for n0 in range(0, N, BLOCK_N):
                cols = n0 + tl.arange(0, BLOCK_N)
                col_ok = cols < N
                dpre = tl.load(dpre_ptr + e * B * N + rows[:, None] * N + cols[None, :],
                               mask=row_ok[:, None] & col_ok[None, :], other=0.0)
                w_t = tl.load(w_ptr + e * stride_we + cols[:, None] * stride_wn + ks[None, :] * stride_wk,
                              mask=col_ok[:, None] & k_ok[None, :], other=0.0)
                acc = tl.dot(dpre, w_t, acc, input_precision=DOT_PRECISION)
        tl.store(dx_ptr + pid_e * B * K + rows[:, None] * K + ks[None, :], acc,
                 mask=row_ok[:, None] & k_ok[None, :])

"""Process-wide settings of a run: threads, TF32 matmuls, the C allocator.

They change the whole process, not one module, so they live here and are applied once, by
:func:`configure_torch`, at the start of a run (``python -m torchrl_wsrl.train``, the
comparison runner, the benchmarks).
"""
from __future__ import annotations

import ctypes

import torch
from omegaconf import DictConfig

__all__ = ["configure_torch", "keep_freed_memory", "set_tf32", "tf32_enabled"]


def set_tf32(enabled: bool) -> None:
    """``critic.precision=tf32``: let float32 matmuls on CUDA use TF32 (cuBLAS, inductor's and
    the critic kernels' ``tl.dot``), or keep them IEEE float32 (the default).

    TF32 keeps 10 mantissa bits: ~8x the matmul throughput on Ampere and later GPUs, ~1e-3
    relative error. JAX defaults to it on GPUs, so compare timings at one stated precision
    (WSRL doc). No effect on CPU matmuls. Read it back with :func:`tf32_enabled`.
    """
    # The legacy flag, not ``fp32_precision``: setting the new API makes the legacy getters,
    # which libraries still read, raise.
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def tf32_enabled() -> bool:
    """Whether CUDA float32 matmuls may use TF32 (readable whichever API set it)."""
    return torch.backends.cuda.matmul.fp32_precision == "tf32"


# glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_MAX.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def keep_freed_memory() -> bool:
    """Let glibc reuse freed heap memory instead of mapping fresh pages for every large tensor:
    ``mallopt(M_MMAP_MAX, 0)`` and ``mallopt(M_TRIM_THRESHOLD, 2 GiB)``, what the variables
    ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647`` do at start-up. Measured here with
    those variables (2-core CPU, default profile, one thread): CQL pre-training 4.2 -> 8.5 it/s
    with two runs side by side. Returns False where the C library is not glibc (nothing
    changed)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def configure_torch(cfg: DictConfig) -> None:
    """Process-wide settings of a run: ``cfg.threads`` intra-op threads (``null``: torch's
    default), TF32 CUDA matmuls with ``cfg.critic.precision=tf32`` and :func:`keep_freed_memory`."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_tf32(cfg.critic.precision == "tf32")
    keep_freed_memory()

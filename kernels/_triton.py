"""Optional Triton import and the checks shared by the kernel launchers.

Triton is an optional dependency: without it this package still imports and its plain PyTorch
references work, while the Triton ops raise ``RuntimeError`` when called.
"""

import os

import torch

try:
    import triton
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction
except ImportError:
    triton = tl = InterpretedFunction = None

HAS_TRITON = triton is not None

# triton.jit chooses between the CPU interpreter and the GPU compiler when a function is defined:
# for triton's own library (tl.sum, ...) when triton is first imported, for the kernels here when
# this package is. The interpreter works only if TRITON_INTERPRET=1 was set before both.
INTERPRET = (
    HAS_TRITON
    and os.environ.get("TRITON_INTERPRET") == "1"
    and isinstance(tl.sum, InterpretedFunction)
)


def triton_available() -> bool:
    """Whether the Triton kernels can run here.

    True when triton imports and either a CUDA device is present or the Triton interpreter runs
    the kernels on CPU tensors: for that the environment variable ``TRITON_INTERPRET`` must be
    ``"1"`` before triton is first imported (tensordict imports it), setting it later has no effect.
    """
    return HAS_TRITON and (INTERPRET or torch.cuda.is_available())


def check_launchable(*tensors: torch.Tensor) -> None:
    """Raise ``RuntimeError`` unless the kernels can run on ``tensors``, and ``TypeError`` unless
    all of them are float32."""
    if not HAS_TRITON:
        raise RuntimeError("triton is not installed; use the *_reference functions instead")
    for tensor in tensors:
        if tensor.dtype != torch.float32:
            raise TypeError(f"the Triton kernels take float32 tensors, got {tensor.dtype}")
        if not tensor.is_cuda and not INTERPRET:
            raise RuntimeError(
                "CPU tensors need the Triton interpreter: set TRITON_INTERPRET=1 before "
                "triton is first imported"
            )


def dot_precision() -> str:
    """``tl.dot`` precision following PyTorch's CUDA float32 matmul setting, so that TF32 stays
    an explicit opt-in as it is for the eager matmuls (``allow_tf32``,
    ``set_float32_matmul_precision`` and ``fp32_precision`` all set the value read here)."""
    return "tf32" if torch.backends.cuda.matmul.fp32_precision == "tf32" else "ieee"


def autotune_configs(interpreted: dict, compiled: list[tuple[dict, int, int]]) -> list:
    """Autotune candidates: one config under the interpreter, where every extra config would only
    slow the tests, else ``compiled`` as ``(block sizes, num_warps, num_stages)`` triples."""
    if INTERPRET:
        return [triton.Config(interpreted)]
    return [triton.Config(blocks, num_warps=warps, num_stages=stages) for blocks, warps, stages in compiled]

"""Triton kernels for the critic-ensemble hot path, each beside the PyTorch reference it matches.

Imports torch and (optionally) triton only. Without triton, or without a GPU and without
``TRITON_INTERPRET=1`` set before this import, :func:`triton_available` is False and callers
use the references.
"""

from ._triton import triton_available
from .ensemble_layer import ensemble_layer_reference, ensemble_layer_triton

__all__ = [
    "ensemble_layer_reference",
    "ensemble_layer_triton",
    "triton_available",
]

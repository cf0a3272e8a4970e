"""Process-wide settings (torchrl_wsrl.runtime)."""
import torch

from torchrl_wsrl.runtime import set_tf32, tf32_enabled


def test_tf32_switch_round_trips():
    assert not tf32_enabled()  # float32 unless asked
    try:
        set_tf32(True)
        assert tf32_enabled()
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        set_tf32(False)
    assert not tf32_enabled()

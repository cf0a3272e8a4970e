"""``common.matmul_flops`` on a tiny MLP: against a hand count, and against the matmuls torch
executes (``common.ExecutedMatmulFlops``) for forward and backward with and without gradients."""
import pytest
import torch
from torch import nn

from common import Evaluation, ExecutedMatmulFlops, matmul_flops

WIDTHS = (3, 4, 2)  # layers 3 -> 4 (12 multiply-adds per row) and 4 -> 2 (8)
ROWS = 5
# Forward: 2 FLOP x 5 rows x (12 + 8) = 200. Weight gradients: 200 more. Input gradients: 200
# more, or 2 x 5 x 8 = 80 without the first layer's (data input).
HAND_COUNTS = [  # (weight_grad, input_grad, FLOPs)
    (False, False, 200),
    (True, False, 200 + 200 + 80),
    (False, True, 200 + 200),
    (True, True, 200 + 200 + 200),
]


@pytest.mark.parametrize("weight_grad, input_grad, expected", HAND_COUNTS)
def test_hand_count(weight_grad, input_grad, expected):
    assert matmul_flops([Evaluation(WIDTHS, ROWS, weight_grad=weight_grad, input_grad=input_grad)]) == expected
    copies = Evaluation(WIDTHS, ROWS, copies=3, weight_grad=weight_grad, input_grad=input_grad)
    assert matmul_flops([copies, Evaluation(WIDTHS, 2 * ROWS)]) == 3 * expected + 2 * 200


@pytest.mark.parametrize("weight_grad, input_grad, expected", HAND_COUNTS)
def test_torch_executes_the_count(weight_grad, input_grad, expected):
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).requires_grad_(weight_grad)
    x = torch.randn(ROWS, 3, requires_grad=input_grad)
    with ExecutedMatmulFlops() as executed:
        y = mlp(x).sum()
        if weight_grad or input_grad:
            y.backward()
    assert executed.total == expected

import importlib.util

import pytest
import torch

from torchrl_wsrl.kernels import ensemble_layer_reference, ensemble_layer_triton

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")

# Covers every pair of values of (batch, in, num_critics, hidden, shared x) in 9 cases, since the
# interpreter is too slow for the full product of 72.
PAIRWISE_SHAPES = [
    # batch, in_features, num_critics, hidden, shared_x
    (1, 23, 2, 64, True),
    (1, 37, 10, 256, False),
    (1, 69, 10, 64, True),
    (37, 23, 10, 256, True),
    (37, 37, 2, 64, True),
    (37, 69, 10, 64, False),
    (256, 23, 2, 64, False),
    (256, 37, 10, 256, True),
    (256, 69, 2, 256, True),
]
LARGE_SHAPES = [
    (1024, 69, 10, 512, False),
    (1024, 17, 10, 512, True),
    (256, 37, 2, 1024, False),
]


def _random_layer(batch, in_features, num_critics, hidden, shared_x, device):
    x_shape = (batch, in_features) if shared_x else (num_critics, batch, in_features)
    return [
        torch.randn(x_shape, device=device),
        torch.randn(num_critics, in_features, hidden, device=device) / in_features**0.5,
        0.1 * torch.randn(num_critics, hidden, device=device),
        torch.randn(num_critics, hidden, device=device),
        0.5 * torch.randn(num_critics, hidden, device=device),
    ]


def _check_against_reference(inputs, assert_close_f32):
    inputs = [t.requires_grad_() for t in inputs]
    out = ensemble_layer_triton(*inputs)
    ref_inputs = [t.detach().double().requires_grad_() for t in inputs]
    ref_out = ensemble_layer_reference(*ref_inputs)
    assert out.shape == ref_out.shape
    assert_close_f32(out, ref_out)

    # Where the ReLU input h is within float32 noise of the ReLU kink, the two precisions may
    # legitimately pick different sides; zero the upstream gradient there. relu(h) - relu(-h) = h.
    x, weight, bias, ln_weight, ln_bias = ref_inputs
    with torch.no_grad():
        relu_input = ref_out - ensemble_layer_reference(x, weight, bias, -ln_weight, -ln_bias)
    grad_out = torch.randn_like(out) * (relu_input.abs() > 1e-4)
    grads = torch.autograd.grad(out, inputs, grad_out)
    ref_grads = torch.autograd.grad(ref_out, ref_inputs, grad_out.double())
    for name, grad, ref_grad in zip(("x", "weight", "bias", "ln_weight", "ln_bias"), grads, ref_grads):
        assert grad.shape == ref_grad.shape, name
        assert_close_f32(grad, ref_grad)


@needs_triton
@pytest.mark.parametrize("batch, in_features, num_critics, hidden, shared_x", PAIRWISE_SHAPES)
def test_matches_reference(batch, in_features, num_critics, hidden, shared_x, device, nan_buffers, assert_close_f32):
    inputs = _random_layer(batch, in_features, num_critics, hidden, shared_x, device)
    _check_against_reference(inputs, assert_close_f32)


@needs_triton
@pytest.mark.slow
@pytest.mark.parametrize("batch, in_features, num_critics, hidden, shared_x", LARGE_SHAPES)
def test_matches_reference_large(
    batch, in_features, num_critics, hidden, shared_x, device, nan_buffers, assert_close_f32
):
    inputs = _random_layer(batch, in_features, num_critics, hidden, shared_x, device)
    _check_against_reference(inputs, assert_close_f32)


@needs_triton
def test_strided_inputs_and_gradient(device, nan_buffers, assert_close_f32):
    num_critics, batch, in_features, hidden = 2, 37, 23, 64
    x = torch.randn(in_features, batch, device=device).t()
    weight = torch.randn(num_critics, hidden, in_features, device=device).transpose(1, 2) / in_features**0.5
    params = [torch.randn(num_critics, hidden, device=device) for _ in range(3)]
    inputs = [t.requires_grad_() for t in (x, weight, *params)]
    ref_inputs = [t.detach().double().requires_grad_() for t in inputs]
    # sum() hands the backward an expanded, stride-0 gradient.
    grads = torch.autograd.grad(ensemble_layer_triton(*inputs).sum(), inputs)
    ref_grads = torch.autograd.grad(ensemble_layer_reference(*ref_inputs).sum(), ref_inputs)
    for grad, ref_grad in zip(grads, ref_grads):
        assert_close_f32(grad, ref_grad)


@needs_triton
def test_no_grad_forward_and_frozen_input(device, nan_buffers, assert_close_f32):
    inputs = _random_layer(37, 23, 2, 64, True, device)
    ref_inputs = [t.double() for t in inputs]
    with torch.no_grad():
        assert_close_f32(ensemble_layer_triton(*inputs), ensemble_layer_reference(*ref_inputs))
    # Observations carry no gradient: the first layer then skips its dX GEMM.
    for t in (*inputs[1:], *ref_inputs[1:]):
        t.requires_grad_()
    grads = torch.autograd.grad(ensemble_layer_triton(*inputs).sum(), inputs[1:])
    ref_grads = torch.autograd.grad(ensemble_layer_reference(*ref_inputs).sum(), ref_inputs[1:])
    for grad, ref_grad in zip(grads, ref_grads):
        assert_close_f32(grad, ref_grad)


@pytest.mark.parametrize(
    "name, x_shape, weight_shape, param_shapes",
    [
        ("weight", (4, 3), (3, 5), [(2, 5)] * 3),
        ("x", (4, 7), (2, 3, 5), [(2, 5)] * 3),
        ("x", (3, 4, 3), (2, 3, 5), [(2, 5)] * 3),
        ("bias", (4, 3), (2, 3, 5), [(5,), (2, 5), (2, 5)]),
        ("ln_weight", (4, 3), (2, 3, 5), [(2, 5), (3, 5), (2, 5)]),
        ("ln_bias", (4, 3), (2, 3, 5), [(2, 5), (2, 5), (2, 4)]),
    ],
)
@pytest.mark.parametrize("layer", [ensemble_layer_reference, ensemble_layer_triton])
def test_bad_shapes_raise(layer, name, x_shape, weight_shape, param_shapes):
    tensors = [torch.zeros(shape) for shape in (x_shape, weight_shape, *param_shapes)]
    with pytest.raises(ValueError, match=name):
        layer(*tensors)


@needs_triton
def test_wrong_dtype_raises():
    inputs = [t.double() for t in _random_layer(4, 3, 2, 16, True, "cpu")]
    with pytest.raises(TypeError, match="float32"):
        ensemble_layer_triton(*inputs)


def test_too_wide_hidden_raises():
    inputs = _random_layer(4, 3, 1, 1025, True, "cpu")
    with pytest.raises(ValueError, match="out features"):
        ensemble_layer_triton(*inputs)

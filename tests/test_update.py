"""The update block under torch.compile and with the Triton critic matches the eager block.

Same initial weights, same batches, same random draws (seeded before every block): the
parameters after a few blocks must agree to float32 round-off. Eager-only behaviour of the block
(step counts, Polyak, minibatch slices) is tested in tests/test_update_eager.py.
"""
import pytest
import torch
import torch._dynamo
import torch._inductor.config
from tensordict import TensorDict

from torchrl_wsrl.kernels import triton_available
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, WSRLLoss
from torchrl_wsrl.update import UpdateStep, make_optimizers

OBS, ACT = 5, 2

needs_triton = pytest.mark.skipif(not triton_available(), reason="the Triton kernels cannot run here")

# (loss class, UTD ratio, batch size, loss keywords): the online block and Cal-QL pre-training,
# the latter with the learned CQL multiplier so that its optimizer is exercised too.
WSRL = (WSRLLoss, 4, 32, {})
CALQL = (CalQLLoss, 1, 16, {"cql_lagrange": True, "num_cql_actions": 3})


def make_batch(batch_size: int, seed: int) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    return TensorDict(
        {
            "observation": torch.randn(batch_size, OBS, generator=g),
            "action": torch.rand(batch_size, ACT, generator=g) * 2 - 1,
            "mc_return": torch.randn(batch_size, 1, generator=g),
            "next": {
                "observation": torch.randn(batch_size, OBS, generator=g),
                "reward": torch.randn(batch_size, 1, generator=g),
                "done": torch.zeros(batch_size, 1, dtype=torch.bool),
                "terminated": torch.rand(batch_size, 1, generator=g) < 0.2,
            },
        },
        [batch_size],
    )


def train(config, num_blocks: int, *, hidden=(16, 16), backend="eager", **update_kwargs):
    """Run ``num_blocks`` update blocks from a fixed initialisation; return the loss state and
    the metrics of the last block. Compiled, only the first block may compile."""
    loss_cls, utd_ratio, batch_size, loss_kwargs = config
    torch.manual_seed(0)
    actor = make_actor(OBS, ACT, hidden)
    critic = EnsembleQCritic(OBS, ACT, num_critics=4, hidden_sizes=hidden, backend=backend)
    loss = loss_cls(actor, critic, action_dim=ACT, **loss_kwargs)
    update = UpdateStep(loss, make_optimizers(loss), utd_ratio=utd_ratio, **update_kwargs)
    for block in range(num_blocks):
        torch.manual_seed(100 + block)
        with torch._dynamo.config.patch(error_on_recompile=block > 0):
            metrics = update(make_batch(batch_size * utd_ratio, seed=block))
    return loss.state_dict(), metrics


def assert_same_training(result, expected):
    (state, metrics), (state_ref, metrics_ref) = result, expected
    assert state.keys() == state_ref.keys()
    for key in state_ref:
        torch.testing.assert_close(state[key], state_ref[key], rtol=1e-4, atol=1e-5, msg=lambda m: f"{key}: {m}")
    for key in metrics_ref.keys():
        torch.testing.assert_close(metrics[key], metrics_ref[key], rtol=1e-4, atol=1e-5)


@pytest.fixture
def fresh_dynamo():
    """Compile from scratch; draw random numbers with ATen's generator inside compiled code
    (inductor's own RNG gives other numbers for the same seed); build the C++ kernels in this
    process (on 2 cores a pool of compile workers costs more than it saves: 37 s vs 51 s)."""
    torch._dynamo.reset()
    with torch._inductor.config.patch(fallback_random=True, compile_threads=1):
        yield
    torch._dynamo.reset()


@pytest.mark.parametrize("config", [WSRL, CALQL], ids=["wsrl-utd4", "calql-lagrange"])
def test_compiled_block_matches_eager(config, fresh_dynamo):
    assert_same_training(train(config, 3, compile=True), train(config, 3))


@needs_triton
def test_triton_critic_block_matches_eager():
    assert_same_training(train(WSRL, 2, backend="triton"), train(WSRL, 2))


@needs_triton
@pytest.mark.slow
@pytest.mark.parametrize("config", [WSRL, CALQL], ids=["wsrl-utd4", "calql-lagrange"])
def test_compiled_triton_critic_block_matches_eager(config, fresh_dynamo):
    assert_same_training(train(config, 2, backend="triton", compile=True), train(config, 2))


@pytest.mark.slow
@pytest.mark.parametrize("config", [WSRL, CALQL], ids=["wsrl-utd4", "calql-lagrange"])
def test_compiled_block_matches_eager_at_paper_width(config, fresh_dynamo):
    assert_same_training(train(config, 3, hidden=(256, 256), compile=True), train(config, 3, hidden=(256, 256)))


def test_cudagraphs_need_cuda_and_capturable_optimizers():
    torch.manual_seed(0)
    loss = WSRLLoss(make_actor(OBS, ACT, (8,)), EnsembleQCritic(OBS, ACT, num_critics=2, hidden_sizes=(8,)), action_dim=ACT)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            UpdateStep(loss, make_optimizers(loss, capturable=True), cudagraphs=True)
    else:
        with pytest.raises(ValueError, match="capturable"):
            UpdateStep(loss.cuda(), make_optimizers(loss.cuda()), cudagraphs=True)

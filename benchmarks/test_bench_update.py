"""WSRL's update blocks (``common.BLOCKS``), per configuration of the update step.

- ``online``: WSRL's online block, batch 1024 split into 4 critic minibatches of 256 (UTD 4),
  then one actor and one temperature step on the 1024; hopper sizes (obs 11, act 3), 10 critics
  2x256 with LayerNorm, actor 2x256.
- ``calql``: one Cal-QL pre-training update, batch 256, 10 + 10 + 10 out-of-distribution actions
  per state, max target backup (10 next actions), same networks; the CQL regulariser over 2
  drawn critics, the only ones evaluated on the 30 x 256 proposals (the authors' setting);
  ``calql-all``: over all 10 critics (all 10 evaluated on the proposals).
- ``single``: one WSRL update (critic, actor, temperature) on one batch of 256 (UTD 1), the
  shape of d3rlpy's 10-critic SAC figure.

Against the peers (TorchRL's ``REDQLoss``, d3rlpy's SAC and CalQL): ``test_bench_peers.py``.
"""
import pytest

from common import BLOCKS, GROUPS, make_update, needs_cuda, run_benchmark

CONFIGS = [  # (critic backend, UpdateStep keywords)
    pytest.param("eager", {}, id="eager"),
    pytest.param("eager", {"compile": True}, id="compiled"),
    pytest.param("eager", {"precision": "bf16"}, id="eager+bf16"),
    pytest.param("eager", {"compile": True, "precision": "bf16"}, id="compiled+bf16"),
    pytest.param("triton", {"compile": True}, id="compiled+triton", marks=needs_cuda),
    pytest.param("triton", {"compile": True, "cudagraphs": True}, id="compiled+triton+cudagraphs", marks=needs_cuda),
]


@pytest.mark.parametrize("backend, update_kwargs", CONFIGS)
@pytest.mark.parametrize("block", list(BLOCKS))
def test_update_block(benchmark, block, backend, update_kwargs):
    update, batch = make_update(block, backend=backend, **update_kwargs)
    benchmark.group = GROUPS[block]
    run_benchmark(benchmark, lambda: update(batch), rounds=5 if block.startswith("calql") else 15, warmup_rounds=5)

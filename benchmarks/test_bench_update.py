"""Update blocks, per configuration, against the REDQ update a TorchRL user would write today.

- ``online``: WSRL's online block, batch 1024 split into 4 critic minibatches of 256 (UTD 4),
  then one actor and one temperature step on the 1024; hopper sizes (obs 11, act 3), 10 critics
  2x256 with LayerNorm, actor 2x256.
- ``calql``: one Cal-QL pre-training update, batch 256, 10 + 10 + 10 out-of-distribution actions
  per state, max target backup (10 next actions), same networks; the CQL regulariser over 2
  drawn critics, the only ones evaluated on the 30 x 256 proposals (the authors' setting);
  ``calql-all``: over all 10 critics (all 10 evaluated on the proposals).
- ``single``: one WSRL update (critic, actor, temperature) on one batch of 256 (UTD 1), the
  shape of d3rlpy's 10-critic SAC figure.

The reference is ``torchrl.objectives.REDQLoss`` with the same actor and 10 LayerNorm critics
(a vmapped stack of ``torchrl.modules.MLP`` copies; TorchRL's REDQ draws the 2 target critics
without replacement and subtracts the entropy in its backup), one backward of the sum of its
three losses and one step per minibatch, then Polyak: ``online`` runs it on the 4 minibatches
(so it updates the actor 4 times where WSRL updates it once on the 1024), ``single`` once.
"""
import pytest
import torch
from torch import nn
from torchrl.modules import MLP, ValueOperator
from torchrl.objectives import REDQLoss, SoftUpdate

from common import (
    DEVICE,
    HIDDEN,
    HOPPER,
    NUM_CQL_ACTIONS,
    NUM_CRITICS,
    OFFLINE_BATCH,
    ONLINE_BATCH,
    UTD_RATIO,
    make_batch,
    make_networks,
    needs_cuda,
    run_benchmark,
)
from torchrl_wsrl.objectives import CalQLLoss, WSRLLoss
from torchrl_wsrl.update import UpdateStep, make_optimizers

OBS, ACT = HOPPER
CONFIGS = [  # (critic backend, UpdateStep keywords)
    pytest.param("eager", {}, id="eager"),
    pytest.param("eager", {"compile": True}, id="compiled"),
    pytest.param("eager", {"precision": "bf16"}, id="eager+bf16"),
    pytest.param("eager", {"compile": True, "precision": "bf16"}, id="compiled+bf16"),
    pytest.param("triton", {"compile": True}, id="compiled+triton", marks=needs_cuda),
    pytest.param("triton", {"compile": True, "cudagraphs": True}, id="compiled+triton+cudagraphs", marks=needs_cuda),
]
BLOCKS = {  # loss class, loss keywords, batch size, UTD ratio
    "online": (WSRLLoss, {}, ONLINE_BATCH, UTD_RATIO),
    # Pre-training as the authors run it: the max target backup, and the CQL regulariser over
    # 2 drawn critics (only those evaluated on the proposals); "calql-all": over all 10.
    "calql": (CalQLLoss, {"num_cql_actions": NUM_CQL_ACTIONS, "max_target_backup": True}, OFFLINE_BATCH, 1),
    "calql-all": (CalQLLoss, {"num_cql_actions": NUM_CQL_ACTIONS, "max_target_backup": True, "cql_subsample_size": None}, OFFLINE_BATCH, 1),
    "single": (WSRLLoss, {}, OFFLINE_BATCH, 1),
}
GROUPS = {
    "online": f"online block: batch {ONLINE_BATCH}, UTD {UTD_RATIO}",
    "calql": f"Cal-QL update: batch {OFFLINE_BATCH}, {3 * NUM_CQL_ACTIONS} OOD actions",
    "calql-all": f"Cal-QL update: batch {OFFLINE_BATCH}, {3 * NUM_CQL_ACTIONS} OOD actions",
    "single": f"single update: batch {OFFLINE_BATCH}",
}


@pytest.mark.parametrize("backend, update_kwargs", CONFIGS)
@pytest.mark.parametrize("block", list(BLOCKS))
def test_update_block(benchmark, block, backend, update_kwargs):
    loss_cls, loss_kwargs, batch_size, utd_ratio = BLOCKS[block]
    actor, critic = make_networks(OBS, ACT, backend=backend)
    loss = loss_cls(actor, critic, action_dim=ACT, **loss_kwargs)
    optimizers = make_optimizers(loss, capturable=update_kwargs.get("cudagraphs", False))
    update = UpdateStep(loss, optimizers, utd_ratio=utd_ratio, **update_kwargs)
    batch = make_batch(batch_size, OBS, ACT)
    benchmark.group = GROUPS[block]
    run_benchmark(benchmark, lambda: update(batch), rounds=5 if block.startswith("calql") else 15, warmup_rounds=5)


def make_redq(fused_adam: bool):
    """REDQLoss on WSRL's actor and 10 LayerNorm critics, its optimizer and Polyak updater."""
    actor, _ = make_networks(OBS, ACT)
    qvalue = ValueOperator(
        MLP(
            in_features=OBS + ACT,
            out_features=1,
            num_cells=list(HIDDEN),
            norm_class=nn.LayerNorm,
            norm_kwargs={"normalized_shape": HIDDEN[0], "eps": 1e-6},
            activation_class=nn.ReLU,
        ),
        in_keys=["observation", "action"],
    ).to(DEVICE)
    loss = REDQLoss(actor, qvalue, num_qvalue_nets=NUM_CRITICS, sub_sample_len=2, loss_function="l2", target_entropy=-ACT)
    loss.make_value_estimator(gamma=0.99)
    optimizer = torch.optim.Adam(loss.parameters(), lr=3e-4, fused=fused_adam or None)
    return loss, optimizer, SoftUpdate(loss, tau=0.005)


@pytest.mark.parametrize("fused_adam", [False, True], ids=["adam-defaults", "fused-adam"])
@pytest.mark.parametrize("block", ["online", "single"])
def test_torchrl_redq_reference(benchmark, block, fused_adam):
    _, _, batch_size, utd_ratio = BLOCKS[block]
    loss, optimizer, target_updater = make_redq(fused_adam)
    batch = make_batch(batch_size, OBS, ACT)

    def redq_block():
        for minibatch in batch.reshape(utd_ratio, -1).unbind(0):
            out = loss(minibatch)
            optimizer.zero_grad(set_to_none=True)
            (out["loss_actor"] + out["loss_qvalue"] + out["loss_alpha"]).backward()
            optimizer.step()
            target_updater.step()

    benchmark.group = GROUPS[block]
    run_benchmark(benchmark, redq_block, rounds=15, warmup_rounds=5)

"""Our update blocks against peers' updates of the same networks, interleaved in one run, with
the matmul FLOPs each one needs and the per-FLOP ratios ours / peer.

Peers: TorchRL's ``REDQLoss`` (comes with torchrl, always measured) and d3rlpy 2.8.1's SAC and
CalQL (skipped unless d3rlpy is installed: ``bash benchmarks/peers/install.sh``, which makes a
separate virtual environment; see its header). Sizes: hopper (obs 11, act 3), 10 critics 2x256,
actor 2x256, as in ``common.py``; ours and REDQ with LayerNorm, d3rlpy without and with it
(``VectorEncoderFactory(use_layer_norm=True)`` for the actor and the critics; d3rlpy puts it
after the ReLU, we before).

What one timed call of each row does:

- ``single`` (batch 256):
  ``ours-*``: ``UpdateStep(WSRLLoss)``, UTD 1: one critic step (TD target: one next action, min
  over 2 drawn target critics), Polyak, one actor + temperature step; eager or compiled.
  ``torchrl-redq-*``: ``REDQLoss`` forward, one backward of ``loss_actor + loss_qvalue +
  loss_alpha``, one Adam step (default for-loop Adam or ``fused=True``), ``SoftUpdate``.
  ``d3rlpy-sac*``: ``SACImpl.update(batch, grad_step)``, the call ``QLearningAlgoBase.update``
  makes after converting a numpy batch: ``update_critic`` (target: one next action, min over
  all 10 target critics), ``update_actor`` (actor and temperature), ``update_critic_target``.
- ``calql`` (batch 256, 10 actions per proposal, 3 x 10 proposals per state, max target backup
  over 10 next actions):
  ``ours-*``: ``UpdateStep(CalQLLoss)``, CQL regulariser over 2 drawn critics (the default);
  ``ours-all-*``: over all 10 (d3rlpy's work).
  ``d3rlpy-calql*``: ``CalQLImpl.update`` with ``max_q_backup=True`` (10 next actions, min over
  all 10 target critics), regulariser over all 10 critics, its Lagrange multiplier (d3rlpy's
  default), then the actor / temperature step and Polyak. TorchRL has no CQL loss.
- ``online`` (batch 1024):
  ``ours-*``: ``UpdateStep(WSRLLoss)``, UTD 4: 4 critic steps on minibatches of 256 (each with
  Polyak), then one actor + temperature step on the 1024.
  ``torchrl-redq-*``: 4 REDQ updates as in ``single``, one per minibatch of 256 (so 4 actor
  steps on 256 each: ``REDQLoss`` computes its three losses in one forward, and a critic-only
  step would still pay for the actor's part).
  ``d3rlpy-sac*``: 4 x (``update_critic`` on a minibatch of 256, ``update_critic_target``), then
  one ``update_actor`` on the 1024: d3rlpy has no UTD block, these are its own calls.

Per-FLOP figure: ``common.matmul_flops`` of the network evaluations each row makes (listed by
the ``*_evaluations`` functions below, checked against the matmuls torch executes by
``test_counted_flops``), with the gradients the update needs from them. Gradients a peer
computes and throws away are not counted (d3rlpy: the critics' weight gradients in its actor
step, zeroed before the next critic step; REDQ: the backward through the detached and target
copies in its vmapped calls): they show as a lower GFLOP/s. The summary and the JSON's
``extra_info`` (``gflop_per_s``, ``per_flop_ours_over_this``) come from ``report.py``.
"""
from __future__ import annotations

import functools

import pytest
import torch
from tensordict import TensorDict
from torch import nn
from torchrl.modules import MLP, ValueOperator
from torchrl.objectives import REDQLoss, SoftUpdate

from common import (
    BLOCKS,
    DEVICE,
    GROUPS,
    HIDDEN,
    HOPPER,
    NUM_CQL_ACTIONS,
    NUM_CRITICS,
    MEASURED,
    QUICK,
    Evaluation,
    ExecutedMatmulFlops,
    make_batch,
    make_networks,
    make_update,
    matmul_flops,
    run_benchmark,
)
from torchrl_wsrl.objectives import CalQLLoss
from torchrl_wsrl.update import UpdateStep

OBS, ACT = HOPPER
CRITIC = (OBS + ACT, *HIDDEN, 1)
ACTOR = (OBS, *HIDDEN, 2 * ACT)  # loc and scale heads
D3RLPY_DEVICE = "cuda:0" if DEVICE.type == "cuda" else "cpu:0"
BLOCK_ROUNDS = {"single": 15, "calql": 5, "online": 15}
REDQ_SUBSAMPLE = 2  # target critics drawn per TD target, as WSRLLoss's default


def actor(rows: int, *, train: bool = False) -> Evaluation:
    return Evaluation(ACTOR, rows, weight_grad=train)


def critics(rows: int, copies: int = NUM_CRITICS, *, train: bool = False, through: bool = False) -> Evaluation:
    """``copies`` critics on ``rows``: trained (``train``) or read for the actor's gradient (``through``)."""
    return Evaluation(CRITIC, rows, copies, weight_grad=train, input_grad=through)


def sac_actor_step(rows: int) -> list[Evaluation]:
    """The actor on ``rows`` states, the 10 critics on its actions, the actor trained through them."""
    return [actor(rows, train=True), critics(rows, through=True)]


# -- ours ----------------------------------------------------------------------------------------
def wsrl_evaluations(update: UpdateStep, batch_size: int) -> list[Evaluation]:
    """Per critic step: the actor's next actions, the drawn target critics on them, the 10 critics
    on the data; Cal-QL adds the actor on s and s' (proposals) and the drawn critics on the 3n
    proposals. Then the actor step on the whole batch."""
    loss = update.loss
    rows = batch_size // update.utd_ratio
    critic_step = [actor(rows), critics(loss.num_target_actions * rows, loss.subsample_size), critics(rows, train=True)]
    if isinstance(loss, CalQLLoss):
        regularised = loss.cql_subsample_size or loss.num_critics
        critic_step += [actor(rows), actor(rows), critics(3 * loss.num_cql_actions * rows, regularised, train=True)]
    return update.utd_ratio * critic_step + sac_actor_step(batch_size)


def ours(block: str, *, compiled: bool):
    update, batch = make_update(block, compile=compiled)
    return functools.partial(update, batch), wsrl_evaluations(update, batch.shape[0])


# -- TorchRL REDQLoss ----------------------------------------------------------------------------
def make_redq(fused_adam: bool):
    """REDQLoss on WSRL's actor and 10 LayerNorm critics (a vmapped stack of ``torchrl.modules.MLP``
    copies; REDQ draws its 2 target critics without replacement and subtracts the entropy in its
    backup), one Adam optimizer over all its parameters, and its Polyak updater."""
    actor_net, _ = make_networks(OBS, ACT)
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
    loss = REDQLoss(
        actor_net, qvalue, num_qvalue_nets=NUM_CRITICS, sub_sample_len=REDQ_SUBSAMPLE, loss_function="l2", target_entropy=-ACT
    )
    loss.make_value_estimator(gamma=0.99)
    optimizer = torch.optim.Adam(loss.parameters(), lr=3e-4, fused=fused_adam or None)
    return loss, optimizer, SoftUpdate(loss, tau=0.005)


def redq_evaluations(loss: REDQLoss, rows: int) -> list[Evaluation]:
    """One REDQ update: the actor on s (trained) and on s' (target), the 10 critics on the actor's
    actions, the drawn target critics on s', the 10 critics on the data."""
    return [
        actor(rows, train=True),
        actor(rows),
        critics(rows, loss.num_qvalue_nets, through=True),
        critics(rows, loss.sub_sample_len),
        critics(rows, loss.num_qvalue_nets, train=True),
    ]


def redq(block: str, *, fused_adam: bool):
    _, _, batch_size, utd_ratio = BLOCKS[block]
    loss, optimizer, target_updater = make_redq(fused_adam)
    minibatches = make_batch(batch_size, OBS, ACT).reshape(utd_ratio, -1).unbind(0)

    def redq_block():
        for minibatch in minibatches:
            out = loss(minibatch)
            optimizer.zero_grad(set_to_none=True)
            (out["loss_actor"] + out["loss_qvalue"] + out["loss_alpha"]).backward()
            optimizer.step()
            target_updater.step()

    return redq_block, utd_ratio * redq_evaluations(loss, batch_size // utd_ratio)


# -- d3rlpy ---------------------------------------------------------------------------------------
def make_d3rlpy(algo: str, *, layer_norm: bool):
    """d3rlpy's SAC or CalQL (``n_critics=10``, actor and critics 2x256, its default learning
    rates and Adam), built for hopper's shapes without a dataset; returns ``(config, impl)``."""
    d3rlpy = pytest.importorskip("d3rlpy", reason="d3rlpy is not installed: see benchmarks/peers/install.sh")
    encoder = d3rlpy.models.VectorEncoderFactory(hidden_units=list(HIDDEN), use_layer_norm=layer_norm)
    networks = {"actor_encoder_factory": encoder, "critic_encoder_factory": encoder, "n_critics": NUM_CRITICS}
    if algo == "sac":
        config = d3rlpy.algos.SACConfig(**networks)
    else:
        config = d3rlpy.algos.CalQLConfig(**networks, n_action_samples=NUM_CQL_ACTIONS, max_q_backup=True)
    torch.manual_seed(0)
    learner = config.create(device=D3RLPY_DEVICE)
    learner.create_impl((OBS,), ACT)
    return config, learner.impl


def d3rlpy_minibatch(batch: TensorDict):
    """Our random batch as d3rlpy's ``TorchMiniBatch`` (what ``TorchMiniBatch.from_batch`` makes
    of a sampled numpy batch; ``next_actions`` is read by none of the algorithms here)."""
    from d3rlpy.torch_utility import TorchMiniBatch

    return TorchMiniBatch(
        observations=batch["observation"],
        actions=batch["action"],
        rewards=batch["next", "reward"],
        next_observations=batch["next", "observation"],
        next_actions=batch["action"],
        returns_to_go=batch["mc_return"],
        terminals=batch["next", "terminated"].float(),
        intervals=torch.ones(batch.shape[0], 1, device=DEVICE),
        device=D3RLPY_DEVICE,
    )


def d3rlpy_sac_critic_step(config, rows: int) -> list[Evaluation]:
    """The actor's next actions, all target critics on them, all critics on the data."""
    return [actor(rows), critics(rows, config.n_critics), critics(rows, config.n_critics, train=True)]


def d3rlpy_calql_critic_step(config, rows: int) -> list[Evaluation]:
    """Max backup: the actor's n next actions, all target critics on them; all critics on the data
    (TD error); the actor on s and s' (proposals); all critics on the 3n proposals; all critics
    on the data again (the regulariser's data term: d3rlpy evaluates it a second time)."""
    n, copies = config.n_action_samples, config.n_critics
    return [
        actor(rows),
        critics(n * rows, copies),
        critics(rows, copies, train=True),
        actor(rows),
        actor(rows),
        critics(3 * n * rows, copies, train=True),
        critics(rows, copies, train=True),
    ]


def d3rlpy_update(block: str, *, algo: str, layer_norm: bool):
    config, impl = make_d3rlpy(algo, layer_norm=layer_norm)
    _, _, batch_size, utd_ratio = BLOCKS[block]
    batch = make_batch(batch_size, OBS, ACT)
    critic_step = d3rlpy_sac_critic_step if algo == "sac" else d3rlpy_calql_critic_step
    evaluations = utd_ratio * critic_step(config, batch_size // utd_ratio) + sac_actor_step(batch_size)
    if utd_ratio == 1:
        return functools.partial(impl.update, d3rlpy_minibatch(batch), 0), evaluations
    minibatches = [d3rlpy_minibatch(minibatch) for minibatch in batch.reshape(utd_ratio, -1).unbind(0)]
    whole = d3rlpy_minibatch(batch)

    def utd_block():
        for minibatch in minibatches:
            impl.update_critic(minibatch)
            impl.update_critic_target()
        impl.update_actor(whole)

    return utd_block, evaluations


# -- the rows, in the order they run ---------------------------------------------------------------
VARIANTS = {  # block -> variant -> builder of (timed call, evaluations)
    "single": {
        "ours-eager": functools.partial(ours, "single", compiled=False),
        "d3rlpy-sac": functools.partial(d3rlpy_update, "single", algo="sac", layer_norm=False),
        "torchrl-redq-adam-defaults": functools.partial(redq, "single", fused_adam=False),
        "ours-compiled": functools.partial(ours, "single", compiled=True),
        "d3rlpy-sac-layernorm": functools.partial(d3rlpy_update, "single", algo="sac", layer_norm=True),
        "torchrl-redq-fused-adam": functools.partial(redq, "single", fused_adam=True),
    },
    "calql": {
        "ours-eager": functools.partial(ours, "calql", compiled=False),
        "d3rlpy-calql": functools.partial(d3rlpy_update, "calql", algo="calql", layer_norm=False),
        "ours-all-eager": functools.partial(ours, "calql-all", compiled=False),
        "d3rlpy-calql-layernorm": functools.partial(d3rlpy_update, "calql", algo="calql", layer_norm=True),
        "ours-compiled": functools.partial(ours, "calql", compiled=True),
        "ours-all-compiled": functools.partial(ours, "calql-all", compiled=True),
    },
    "online": {
        "ours-eager": functools.partial(ours, "online", compiled=False),
        "d3rlpy-sac": functools.partial(d3rlpy_update, "online", algo="sac", layer_norm=False),
        "torchrl-redq-adam-defaults": functools.partial(redq, "online", fused_adam=False),
        "ours-compiled": functools.partial(ours, "online", compiled=True),
        "d3rlpy-sac-layernorm": functools.partial(d3rlpy_update, "online", algo="sac", layer_norm=True),
        "torchrl-redq-fused-adam": functools.partial(redq, "online", fused_adam=True),
    },
}
# Quick mode (CI) leaves out our compiled rows: test_bench_update.py's quick run compiles the same
# update steps, and compiling them again here would triple this file's time.
CASES = [
    pytest.param(
        block,
        variant,
        id=f"{block}-{variant}",
        marks=pytest.mark.skipif(QUICK and "compiled" in variant, reason="compiled in test_bench_update.py's quick run"),
    )
    for block, variants in VARIANTS.items()
    for variant in variants
]


@pytest.mark.parametrize("block, variant", CASES)
def test_peer_update(benchmark, request, block, variant):
    call, evaluations = VARIANTS[block][variant]()
    benchmark.group = f"vs peers, {GROUPS[block]}"
    benchmark.extra_info["matmul_flop"] = matmul_flops(evaluations)
    run_benchmark(benchmark, call, rounds=BLOCK_ROUNDS[block], warmup_rounds=5)
    if benchmark.stats:  # None under --benchmark-disable
        request.config.stash.setdefault(MEASURED, []).append(benchmark.stats)


@pytest.mark.parametrize("block, variant", [case.values for case in CASES if "compiled" not in case.values[1]])
def test_counted_flops(block, variant):
    """The counted matmul FLOPs are those torch executes, for ours (the first layer's input
    gradient included where it is computed); a peer executes at least as many (more where it
    computes gradients it does not use)."""
    call, evaluations = VARIANTS[block][variant]()
    with ExecutedMatmulFlops() as executed:
        call()
    if variant.startswith("ours"):
        assert executed.total == matmul_flops(evaluations)
    else:
        assert matmul_flops(evaluations) <= executed.total

"""Offline pre-training with ``CalQLLoss`` in a plain TorchRL loop (WSRL Phase 1).

A D4RL-format HDF5 file (default: the hopper-medium data shipped with the package) goes into a
TorchRL ``ReplayBuffer``; each gradient step samples a batch, back-propagates the three losses
of ``CalQLLoss`` (critic ensemble with the Cal-QL regulariser, actor, temperature) and moves
the target critics with TorchRL's ``SoftUpdate``. The loss's ``state_dict`` (actor, critics,
target critics, temperature) is saved for ``finetune_wsrl.py``.

    python docs/examples/pretrain_calql.py --steps 5000 --out calql_pretrained.pt
"""
import argparse
from pathlib import Path

import torch
from torchrl.data import LazyTensorStorage, ReplayBuffer
from torchrl.objectives import SoftUpdate

import torchrl_wsrl
from torchrl_wsrl.cli.args import positive_int
from torchrl_wsrl.data import DatasetSpec, load_d4rl_hdf5
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss

SHIPPED_DATA = Path(torchrl_wsrl.__file__).parent / "assets" / "hopper-medium.hdf5"
# The authors' learning rates (WSRL doc, Phase 3), by parameter group of the loss.
LEARNING_RATES = {"critic": 3e-4, "actor": 1e-4, "alpha": 1e-4, "cql_alpha": 3e-4}

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--dataset", type=Path, default=SHIPPED_DATA, help="D4RL-format HDF5 file")
parser.add_argument("--steps", type=positive_int, default=5000, help="gradient steps")
parser.add_argument("--batch-size", type=positive_int, default=256)
parser.add_argument("--num-critics", type=positive_int, default=10)
parser.add_argument("--hidden", type=positive_int, default=256, help="width of the two hidden layers")
parser.add_argument("--cql-alpha", type=float, default=5.0, help="weight of the CQL regulariser")
parser.add_argument("--gamma", type=float, default=0.99)
parser.add_argument("--log-every", type=positive_int, default=500, help="gradient steps between printed losses")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", type=Path, default=Path("calql_pretrained.pt"), help="where the loss state_dict goes")
args = parser.parse_args()
torch.manual_seed(args.seed)

# observation, action, next/{observation, reward, terminated, ...} and mc_return, the Monte-Carlo
# return-to-go of each transition that Cal-QL's calibration max(Q, mc_return) reads.
data = load_d4rl_hdf5(args.dataset, DatasetSpec(gamma=args.gamma))
buffer = ReplayBuffer(storage=LazyTensorStorage(data.numel()), batch_size=args.batch_size)
buffer.extend(data)

obs_dim, action_dim = data["observation"].shape[-1], data["action"].shape[-1]
actor = make_actor(obs_dim, action_dim, (args.hidden, args.hidden))
critic = EnsembleQCritic(obs_dim, action_dim, num_critics=args.num_critics, hidden_sizes=(args.hidden, args.hidden))
loss = CalQLLoss(actor, critic, action_dim=action_dim, cql_alpha=args.cql_alpha, gamma=args.gamma)
optimizer = torch.optim.Adam(
    [{"params": params, "lr": LEARNING_RATES[name]} for name, params in loss.parameter_groups().items()]
)
target_update = SoftUpdate(loss, tau=0.005)

for step in range(1, args.steps + 1):
    out = loss(buffer.sample())
    # One backward for all losses: each reaches its own parameters only (the actor loss reads
    # the critics detached, the temperature loss the log-probabilities).
    optimizer.zero_grad()
    sum(value for key, value in out.items() if key.startswith("loss_")).backward()
    optimizer.step()
    target_update.step()
    if step % args.log_every == 0:
        losses = " ".join(f"{key}={out[key].item():.4f}" for key in ("loss_qvalue", "loss_actor", "loss_alpha"))
        print(f"step {step} {losses}", flush=True)

torch.save(loss.state_dict(), args.out)
print(f"saved {args.out}")

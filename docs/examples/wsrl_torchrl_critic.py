"""WSRLLoss over a plain TorchRL critic and prioritized replay, on Hopper-v5.

Nothing of this package but its public names (``torchrl_wsrl.WSRLLoss``, ``make_actor``,
``make_env``); the rest is TorchRL: a ``ValueOperator(MLP)`` Q-value module that the loss turns
into a 10-critic ensemble (parameters stacked, called under ``torch.vmap``, as ``REDQLoss``
does), a ``TensorDictPrioritizedReplayBuffer`` fed with the TD errors the loss writes, a
``Collector`` and ``SoftUpdate``. Where TorchRL's C++ extension does not load against the
installed torch (torchrl 0.14.1 with torch 2.13.0: its segment trees are missing, pytorch/rl
issue 3508), the prioritized buffer cannot be built; the script says so and samples uniformly
from a ``TensorDictReplayBuffer`` (``update_tensordict_priority`` is then a no-op). Each env step after ``--warmup-steps`` random ones is followed
by ``--utd-ratio`` critic steps and one actor and temperature step.

    python docs/examples/wsrl_torchrl_critic.py --steps 5000
"""
import argparse

import torch
from torch import nn
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, TensorDictPrioritizedReplayBuffer, TensorDictReplayBuffer
from torchrl.modules import MLP, ValueOperator
from torchrl.objectives import SoftUpdate

import torchrl_wsrl as w

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--steps", type=int, default=5000, help="env steps, warmup included")
parser.add_argument("--warmup-steps", type=int, default=1000, help="uniform random env steps before any update")
parser.add_argument("--utd-ratio", type=int, default=4, help="critic steps per env step")
parser.add_argument("--batch-size", type=int, default=256, help="transitions per gradient step")
parser.add_argument("--num-critics", type=int, default=10)
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--log-every", type=int, default=500, help="env steps between printed losses")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
for flag in ("steps", "utd_ratio", "batch_size", "num_critics", "hidden", "log_every"):
    if getattr(args, flag) < 1:
        parser.error(f"argument --{flag.replace('_', '-')}: must be a positive integer, got {getattr(args, flag)}")
torch.manual_seed(args.seed)

env = w.make_env("hopper-medium", seed=args.seed)  # Hopper-v5, float32 observations, actions in [-1, 1]
obs_dim, action_dim = env.observation_spec["observation"].shape[-1], env.action_spec.shape[-1]
actor = w.make_actor(obs_dim, action_dim, (args.hidden, args.hidden))
hidden = [args.hidden, args.hidden]
mlp = MLP(
    in_features=obs_dim + action_dim, out_features=1, num_cells=hidden, activation_class=nn.ReLU,
    norm_class=nn.LayerNorm, norm_kwargs=[{"normalized_shape": h} for h in hidden],
)
qvalue = ValueOperator(mlp, in_keys=["observation", "action"])  # writes state_action_value
loss = w.WSRLLoss(actor, qvalue, num_qvalue_nets=args.num_critics, action_spec=env.action_spec)
groups = loss.parameter_groups()  # critic, actor, alpha; the authors' learning rates
critic_optimizer = torch.optim.Adam(groups["critic"], lr=3e-4)
actor_optimizer = torch.optim.Adam(groups["actor"] + groups["alpha"], lr=1e-4)
target_update = SoftUpdate(loss, tau=0.005)

try:
    buffer = TensorDictPrioritizedReplayBuffer(
        alpha=0.6, beta=0.4, storage=LazyTensorStorage(args.steps), batch_size=args.batch_size, priority_key="td_error"
    )
    print("replay: prioritized (TensorDictPrioritizedReplayBuffer)")
except RuntimeError as err:  # TorchRL's C++ segment trees do not load against this torch build (pytorch/rl#3508)
    buffer = TensorDictReplayBuffer(storage=LazyTensorStorage(args.steps), batch_size=args.batch_size, priority_key="td_error")
    print(f"replay: uniform, TorchRL's prioritized sampler is unavailable here ({err})")
collector = Collector(env, actor, frames_per_batch=1, total_frames=args.steps, init_random_frames=args.warmup_steps)
for env_step, data in enumerate(collector, start=1):
    buffer.extend(data.reshape(-1))
    if env_step <= args.warmup_steps:
        continue
    for _ in range(args.utd_ratio):
        batch = buffer.sample()
        out = loss(batch)  # writes batch["td_error"]; weighs the losses by batch["priority_weight"]
        critic_optimizer.zero_grad()
        out["loss_qvalue"].backward()
        critic_optimizer.step()
        target_update.step()
        buffer.update_tensordict_priority(batch)
    out = loss(buffer.sample())
    actor_optimizer.zero_grad()
    (out["loss_actor"] + out["loss_alpha"]).backward()
    actor_optimizer.step()
    if env_step % args.log_every == 0:
        losses = " ".join(f"{key}={out[key].item():.4f}" for key in ("loss_qvalue", "loss_actor", "loss_alpha"))
        print(f"env_step {env_step} {losses}", flush=True)
collector.shutdown()
print("done")

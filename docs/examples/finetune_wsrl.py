"""Online fine-tuning with ``WSRLLoss`` in a plain TorchRL loop (WSRL Phases 2-3).

From ``pretrain_calql.py``'s checkpoint (or from scratch), a TorchRL ``Collector`` steps a
``GymEnv`` into a fresh ``ReplayBuffer`` (no offline data) whose ``WarmupReplayTransform`` refuses
sampling until ``--warmup-steps`` transitions of the loaded policy are in it. Then each env step
is followed by ``--utd-ratio`` critic steps (each with a ``SoftUpdate`` of the target critics)
and one actor and temperature step.

    python docs/examples/finetune_wsrl.py --checkpoint calql_pretrained.pt --steps 20000
    python docs/examples/finetune_wsrl.py --env HalfCheetah-v5 \
        --checkpoint torchrl_wsrl/assets/halfcheetah-medium-replay.agent.pt   # the shipped agent
"""
import argparse
from pathlib import Path

import torch
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, ReplayBuffer
from torchrl.envs import Compose, DoubleToFloat, GymEnv, InitTracker, RewardSum, TransformedEnv
from torchrl.objectives import SoftUpdate

from torchrl_wsrl.cli.args import positive_int
from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import WSRLLoss
from torchrl_wsrl.replay import WarmupReplayTransform

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument(
    "--checkpoint",
    type=Path,
    help="a loss state_dict from pretrain_calql.py, or an agent file of this package (a shipped "
    "agent, a run's pretrained.pt / final.pt) for the same --env (default: from scratch)",
)
parser.add_argument("--env", default="Hopper-v5", help="gymnasium id (its actions in [-1, 1])")
parser.add_argument("--steps", type=positive_int, default=20000, help="env steps, warmup included")
parser.add_argument("--warmup-steps", type=int, default=5000, help="env steps of the loaded policy before any update")
parser.add_argument("--utd-ratio", type=positive_int, default=4, help="critic steps per env step")
parser.add_argument("--batch-size", type=positive_int, default=256, help="transitions per gradient step")
parser.add_argument("--num-critics", type=positive_int, default=10, help="as in pre-training")
parser.add_argument("--hidden", type=positive_int, default=256, help="as in pre-training")
parser.add_argument("--log-every", type=positive_int, default=1000, help="env steps between printed losses")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", type=Path, default=Path("wsrl_finetuned.pt"), help="where the loss state_dict goes")
args = parser.parse_args()
torch.manual_seed(args.seed)

# float32 observations, episode returns, and is_init (the collector asks every policy for it).
env = TransformedEnv(GymEnv(args.env), Compose(DoubleToFloat(), RewardSum(), InitTracker()))
env.set_seed(args.seed)
obs_dim, action_dim = env.observation_spec["observation"].shape[-1], env.action_spec.shape[-1]
actor = make_actor(obs_dim, action_dim, (args.hidden, args.hidden))
critic = EnsembleQCritic(obs_dim, action_dim, num_critics=args.num_critics, hidden_sizes=(args.hidden, args.hidden))
loss = WSRLLoss(actor, critic, action_dim=action_dim)
groups = loss.parameter_groups()  # critic, actor, alpha; the authors' learning rates
critic_optimizer = torch.optim.Adam(groups["critic"], lr=3e-4)
actor_optimizer = torch.optim.Adam(groups["actor"] + groups["alpha"], lr=1e-4)
# SoftUpdate copies the critics into the targets when built: build it before loading the
# pre-trained target critics.
target_update = SoftUpdate(loss, tau=0.005)
if args.checkpoint is not None:  # all of WSRL's entries; Cal-QL's own (its CQL weight) left out
    saved = torch.load(args.checkpoint, weights_only=True)
    saved = saved.get("loss", saved)  # an agent file holds the loss state under "loss"
    loss.load_state_dict({key: value for key, value in saved.items() if key in loss.state_dict()})

warmup = WarmupReplayTransform(args.warmup_steps)
buffer = ReplayBuffer(storage=LazyTensorStorage(args.steps), batch_size=args.batch_size, transform=warmup)
collector = Collector(env, actor, frames_per_batch=1, total_frames=args.steps)
critic_steps = 0
for env_step, data in enumerate(collector, start=1):
    buffer.extend(data)
    if data["next", "done"].any():
        print(f"env_step {env_step} episode_return={data['next', 'episode_reward'].item():.1f}", flush=True)
    if not warmup.warmup_complete:
        continue
    # forward() computes all three losses; each step back-propagates the ones it trains.
    for _ in range(args.utd_ratio):
        critic_optimizer.zero_grad()
        loss(buffer.sample())["loss_qvalue"].backward()
        critic_optimizer.step()
        target_update.step()
    out = loss(buffer.sample())
    actor_optimizer.zero_grad()
    (out["loss_actor"] + out["loss_alpha"]).backward()
    actor_optimizer.step()
    critic_steps += args.utd_ratio
    if env_step % args.log_every == 0:
        losses = " ".join(f"{key}={out[key].item():.4f}" for key in ("loss_qvalue", "loss_actor", "loss_alpha"))
        print(f"env_step {env_step} critic_steps={critic_steps} {losses}", flush=True)
collector.shutdown()

torch.save(loss.state_dict(), args.out)
print(f"saved {args.out}")

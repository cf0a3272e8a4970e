"""Q at data, policy and uniform-random actions while WSRL's online update runs on a fixed buffer.

Collects the default job's warmup (1,000 env steps of the pre-trained policy) from a
``pretrained.pt``, then runs 2,000 online UTD blocks on that buffer only (no new data) and
prints, every 250 blocks, the TD loss and, over 512 buffer states (online-collapse.md):
- the mean of Q (mean over the critics, and min over them) at the data, sampled-policy,
  policy-mode and uniform-random actions, and the policy mode's mean distance from the data;
- how far the critics' action gradient has turned: the mean cosine between
  ``grad_a min_i Q_i(s, a)`` (what the actor climbs; and that of the mean over the critics)
  now and in the pre-trained critics, both at the pre-trained policy's mode.
``--offline`` runs the same updates (batch size, UTD ratio, learning rates) with the
pre-training loss (CQL) on offline batches instead, for comparison.

    python docs/results/hopper-medium/fixed_buffer_q.py RUN/pretrained.pt /tmp/qrun [--frozen-actor] [--offline] [override ...]
"""
import argparse
from pathlib import Path

import torch
from tensordict import TensorDict

from torchrl_wsrl.agent import make_critic, make_loss, make_policy
from torchrl_wsrl.checkpoint import load_checkpoint, restore
from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.data.sources import load_task_dataset, resolve_dataset
from torchrl_wsrl.envs import get_task
from torchrl_wsrl.trainer import Trainer
from torchrl_wsrl.update import UpdateStep, make_optimizers

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoint")
parser.add_argument("run_dir", type=Path, help="a new directory for the warmup run")
parser.add_argument("--frozen-actor", action="store_true", help="actor learning rate 1e-12")
parser.add_argument("--offline", action="store_true", help="CQL pre-training steps on the offline data instead")
parser.add_argument("--blocks", type=int, default=2000)
parser.add_argument("--every", type=int, default=250, help="blocks between two prints")
parser.add_argument("overrides", nargs="*", help="hydra overrides of the run config, e.g. agent.subsample_replace=false")
args = parser.parse_args()
torch.set_num_threads(1)

cfg = compose_config([f"pretrained_checkpoint={args.checkpoint}", "threads=1", "train.online_steps=1000",
                      "train.warmup_steps=999", "train.eval_episodes=1", *args.overrides])
trainer = Trainer(cfg, args.run_dir)
trainer.run()
buffer = trainer.online_storage[: len(trainer.online_storage)]

task = get_task(cfg.task.name)
actor, critic = make_policy(cfg, task), make_critic(cfg, task)
loss = make_loss(cfg, task, actor, critic, regularized=args.offline)
optimizers = make_optimizers(loss, lr_actor=1e-12 if args.frozen_actor else cfg.train.lr_actor,
                             lr_critic=cfg.train.online_lr_critic, lr_alpha=cfg.train.lr_alpha)
restore(loss, optimizers, load_checkpoint(args.checkpoint), source=args.checkpoint)
update = UpdateStep(loss, optimizers, utd_ratio=cfg.train.utd_ratio, tau=cfg.agent.pretrain_tau if args.offline else cfg.agent.tau)
source = load_task_dataset(task, path=resolve_dataset(task, cfg.dataset_path), gamma=cfg.agent.gamma) if args.offline else buffer

generator = torch.Generator().manual_seed(0)
probe = buffer[torch.randperm(buffer.numel(), generator=generator)[:512]]
obs = probe["observation"]


def action_gradients(action: torch.Tensor) -> dict[str, torch.Tensor]:
    """grad_a of min_i Q_i(s, a) and of mean_i Q_i(s, a) at the probe states, ``[B, act]`` each."""
    action = action.clone().requires_grad_(True)
    q = critic.q_values(obs, action)
    return {"min": torch.autograd.grad(q.amin(0).sum(), action, retain_graph=True)[0],
            "mean": torch.autograd.grad(q.mean(0).sum(), action)[0]}


with torch.no_grad():
    mode0 = actor.get_dist(TensorDict({"observation": obs}, batch_size=obs.shape[:1])).deterministic_sample
gradients0 = action_gradients(mode0)


@torch.no_grad()
def q_stats() -> dict:
    dist = actor.get_dist(TensorDict({"observation": obs}, batch_size=obs.shape[:1]))
    mode = dist.deterministic_sample
    actions = {"data": probe["action"], "policy": dist.sample(), "mode": mode,
               "uniform": torch.rand(mode.shape, generator=generator) * 2 - 1}
    stats = {}
    for name, action in actions.items():
        q = critic.q_values(obs, action)  # [E, B, 1]
        stats[name] = (round(q.mean().item(), 1), round(q.amin(0).mean().item(), 1))
    stats["|mode - data|"] = round((mode - probe["action"]).abs().mean().item(), 3)
    with torch.enable_grad():
        gradients = action_gradients(mode0)
    for name, gradient in gradients.items():
        stats[f"cos(grad_a {name} Q, pre-trained)"] = round(torch.cosine_similarity(gradient, gradients0[name], dim=-1).mean().item(), 3)
    stats["|grad_a min Q|"] = round(gradients["min"].norm(dim=-1).mean().item(), 2)
    return stats


print("block 0", q_stats(), flush=True)
for block in range(1, args.blocks + 1):
    metrics = update(source[torch.randint(source.numel(), (cfg.train.online_batch_size,), generator=generator)])
    if block % args.every == 0:
        print(f"block {block} TD loss {metrics['loss_qvalue'].item():.1f}", q_stats(), flush=True)

"""fp32 against bf16 pre-training on the same seed and the same batches: loss and Q trajectories.

    python benchmarks/precision_trajectories.py 2000   # gradient steps per precision (3 min, 2 threads)

CQL on the shipped hopper-medium at the default profile's sizes (no BC warm start, pretrain tau
0.05); prints, per metric, both values at the end and the median / max relative difference over
the logged steps (every 100); raw values in /tmp/traj.json.
"""
import copy, json, sys, torch
from hydra import compose, initialize_config_module
from torchrl.data import LazyTensorStorage, ReplayBuffer
from torchrl_wsrl.agent import make_critic, make_loss, make_policy
from torchrl_wsrl.data.sources import load_task_dataset, sample_path
from torchrl_wsrl.envs import get_task
from torchrl_wsrl.update import UpdateStep, make_optimizers
torch.set_num_threads(2)
T = get_task("hopper-medium")
with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
    cfg = compose("config", overrides=["train.bc_steps=0"])
data = load_task_dataset(T, path=sample_path(T), gamma=0.99)
steps = int(sys.argv[1])
torch.manual_seed(0)
batches_idx = [torch.randint(data.numel(), (256,)) for _ in range(steps)]
out = {}
for precision in ("fp32", "bf16"):
    torch.manual_seed(0)
    loss = make_loss(cfg, T, make_policy(cfg, T), make_critic(cfg, T), regularized=True)
    update = UpdateStep(loss, make_optimizers(loss), tau=0.05, precision=precision)
    torch.manual_seed(1)
    rows = []
    for i, idx in enumerate(batches_idx, 1):
        m = update(data[idx])
        if i % 100 == 0:
            rows.append({k: m[k].item() for k in ("loss_qvalue", "q_mean", "cql_penalty", "loss_actor")})
    out[precision] = rows
for k in ("loss_qvalue", "q_mean", "cql_penalty", "loss_actor"):
    a = torch.tensor([r[k] for r in out["fp32"]]); b = torch.tensor([r[k] for r in out["bf16"]])
    rel = ((a - b).abs() / a.abs().clamp(min=1e-3))
    print(f"{k}: fp32 at end {a[-1]:.4g}, bf16 at end {b[-1]:.4g}; median rel. diff over checkpoints {rel.median():.3g}, max {rel.max():.3g}")
json.dump(out, open("/tmp/traj.json", "w"))

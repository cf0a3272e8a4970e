"""Pre-training gradient steps per second on halfcheetah-medium, profile=paper, per variant (1 thread)."""
import sys, time, tempfile, ctypes
from pathlib import Path
import torch
from torchrl.data import LazyTensorStorage, ReplayBuffer
from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.trainer import Trainer

torch.set_num_threads(1)
variant = sys.argv[1:]
cfg = compose_config(["task=halfcheetah-medium", "profile=paper", "train.online_steps=0", "threads=1", *variant])
tr = Trainer(cfg, Path(tempfile.mkdtemp()) / "run")
buf = ReplayBuffer(storage=LazyTensorStorage(tr.offline_data.numel()), batch_size=256)
buf.extend(tr.offline_data)
upd = tr._update_step(tr.pre_loss, tr.pre_optimizers, utd_ratio=1, tau=cfg.agent.pretrain_tau)
t0 = time.perf_counter()
for _ in range(30):
    upd(buf.sample())
warm = time.perf_counter() - t0
n = 150
t0 = time.perf_counter()
for _ in range(n):
    upd(buf.sample())
dt = time.perf_counter() - t0
print(f"{' '.join(variant) or 'eager fp32'}: first 30 steps {warm:.1f} s, then {n / dt:.2f} steps/s")

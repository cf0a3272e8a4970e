"""Pre-training gradient steps per second on halfcheetah-medium at profile=paper, one thread:
30 warm-up steps (compilation), then 150 timed. Hydra overrides choose the variant:

    OMP_NUM_THREADS=1 python docs/results/pretraining/probe_speed.py update_step.compile=true critic.precision=bf16

(The figures of README.md were taken at commit 9920620 with this script's then form, which
reached the same update block through the trainer's private ``_update_step``.)
"""
import sys
import tempfile
import time
from pathlib import Path

import torch
from torchrl.data import LazyTensorStorage, ReplayBuffer

from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.training import Trainer

torch.set_num_threads(1)
variant = sys.argv[1:]
cfg = compose_config(["task=halfcheetah-medium", "profile=paper", "train.online_steps=0", "threads=1", *variant])
trainer = Trainer(cfg, Path(tempfile.mkdtemp()) / "run")
buffer = ReplayBuffer(storage=LazyTensorStorage(trainer.offline_data.numel()), batch_size=256)
buffer.extend(trainer.offline_data)
update = trainer.make_update(trainer.pre_loss, trainer.pre_optimizers, utd_ratio=1, tau=cfg.agent.pretrain_tau)
tic = time.perf_counter()
for _ in range(30):
    update(buffer.sample())
warm = time.perf_counter() - tic
steps = 150
tic = time.perf_counter()
for _ in range(steps):
    update(buffer.sample())
print(f"{' '.join(variant) or 'eager fp32'}: first 30 steps {warm:.1f} s, then {steps / (time.perf_counter() - tic):.2f} steps/s")

"""Hydra entry point: ``python -m torchrl_wsrl.train [task=...] [algo=...] [profile=...]``."""
from __future__ import annotations

from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from torchrl_wsrl.trainer import Trainer


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.backends.cuda.matmul.allow_tf32 = cfg.critic.tf32
    torch.backends.cudnn.allow_tf32 = cfg.critic.tf32
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    summary = Trainer(cfg, run_dir).run()
    print(f"\nrun directory: {run_dir}\n{summary.table()}")
    return summary.final


if __name__ == "__main__":
    main()

"""Hydra entry point: ``python -m torchrl_wsrl.train [task=...] [algo=...] [profile=...]``."""
from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from torchrl_wsrl.trainer import Trainer, configure_torch


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    # Parallel launchers (hydra/launcher=joblib) pickle this function by value: keep torch out
    # of its body (torch.backends.cudnn cannot be pickled); configure_torch does that part.
    configure_torch(cfg)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    summary = Trainer(cfg, run_dir).run()
    print(f"\nrun directory: {run_dir}\n{summary.table()}")
    return summary.final


if __name__ == "__main__":
    main()

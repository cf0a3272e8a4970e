"""``wsrl-train`` (or ``python -m torchrl_wsrl.train``), the hydra entry point: ``wsrl-train
[task=...] [algo=...] [profile=...] [key=value ...]``, or ``wsrl-train resume=RUN_DIR`` to go on
with a killed run.

:func:`cli` checks a run before hydra creates or touches any directory (hydra's callbacks
cannot refuse a run: it turns their exceptions into warnings): the config validates
(:func:`~torchrl_wsrl.validation.validate_config`, one line per problem) and an explicit
``hydra.run.dir`` does not exist yet, so that a refused run leaves nothing behind and an
earlier run is never rewritten. In a sweep (``-m``) each job is validated by :func:`main`,
which, like a run refused for its inputs (a checkpoint or dataset that does not fit), removes
the directory hydra made for it. ``resume=RUN_DIR`` takes no other
override: the run goes on with its own ``config.yaml``, hydra's records of the resumed
invocation under ``RUN_DIR/.hydra/resume-<time>`` (the run's ``.hydra`` files stay as they are).
"""
from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import torchrl_wsrl.conf  # noqa: F401  stores the task group for hydra.main (its file:// search path imports nothing)
from torchrl_wsrl.checkpoint import CheckpointMismatchError, latest_run_checkpoint
from torchrl_wsrl.cli.interrupt import INTERRUPTED_EXIT_CODE, interrupted
from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.data.transitions import DatasetError
from torchrl_wsrl.metrics import DivergenceError
from torchrl_wsrl.validation import ConfigError, explain_compose_error, validate_config

HYDRA_FILES = (".hydra", "train.log")
# Errors that name a bad input (config, checkpoint, dataset file): reported by their message.
INPUT_ERRORS = (ConfigError, CheckpointMismatchError, DatasetError, FileNotFoundError, FileExistsError)
# The outermost directory hydra creates for a single run (the run directory or the first of its
# ancestors that did not exist, e.g. runs/<task>/ of the default layout), noted by
# :func:`preflight` before hydra runs: a refused run removes up to it. None in a sweep.
_CREATED_BY_THIS_RUN: Path | None = None


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    # Parallel launchers (hydra/launcher=joblib) pickle this function by value: keep torch out
    # of its body (torch.backends.cudnn cannot be pickled); configure_torch does that part.
    # The trainer (and matplotlib, behind it) loads here, after preflight: a refused command
    # line returns without it.
    from torchrl_wsrl.runtime import configure_torch
    from torchrl_wsrl.training import Trainer

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    resume = bool(cfg.resume)
    if resume:
        cfg = OmegaConf.load(run_dir / "config.yaml")
    try:  # the trainer reads and checks every input before it writes anything
        validate_config(cfg)
        configure_torch(cfg)
        trainer = Trainer(cfg, run_dir, resume=resume)
    except Exception as err:
        if not resume:
            _remove_refused_job_dir(run_dir)
        if isinstance(err, INPUT_ERRORS):
            sys.exit(f"{type(err).__name__}: {err}")  # a bad input: its message, no traceback
        raise
    try:
        summary = trainer.run()
    except DivergenceError as err:
        sys.exit(f"DivergenceError: {err}\nrun directory (checkpoints before the divergence kept): {run_dir}")
    except OSError as err:  # the disk the run writes to (full, read-only, gone)
        sys.exit(f"OSError: {err}\nrun directory (the checkpoints written before kept): {run_dir}")
    except (KeyboardInterrupt, RuntimeError) as err:
        if not interrupted(err):
            raise
        print(f"\ninterrupted (Ctrl-C). {_how_to_go_on(run_dir)}", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
    print(f"\nrun directory: {run_dir}\n{summary.table()}")
    return summary.final


def _how_to_go_on(run_dir: Path) -> str:
    """Where an interrupted run stands: its latest run checkpoint and the command that goes
    on from it, or that it has none yet."""
    latest = latest_run_checkpoint(run_dir)
    if latest is None:
        return f"No run checkpoint was written yet; nothing to resume in {run_dir}."
    return f"Go on from its latest run checkpoint ({latest.name}):\n  wsrl-train resume={run_dir}"


def _remove_refused_job_dir(run_dir: Path) -> None:
    """Remove the directory hydra made for a run refused before it began (a bad config, a
    checkpoint or dataset that does not fit), if it holds nothing but hydra's own files, and
    the ancestors hydra made for it (up to :data:`_CREATED_BY_THIS_RUN`) that are left empty."""
    if not (run_dir.is_dir() and all(p.name in HYDRA_FILES for p in run_dir.iterdir())):
        return
    shutil.rmtree(run_dir)
    top = _CREATED_BY_THIS_RUN
    if top is None or not run_dir.is_relative_to(top):
        return
    for parent in run_dir.parents:
        if not parent.is_relative_to(top) or any(parent.iterdir()):
            break
        parent.rmdir()


def _outermost_missing(path: Path) -> Path:
    """``path`` or its outermost ancestor that does not exist: what creating ``path`` creates."""
    path = Path(os.path.abspath(path))  # as hydra makes runtime.output_dir absolute
    while not path.parent.exists():
        path = path.parent
    return path


def preflight(overrides: list[str]) -> list[str]:
    """Check a single run's command-line ``overrides`` before hydra runs; returns the
    overrides to run with (``resume=RUN_DIR`` adds hydra's run directory settings). Notes in
    :data:`_CREATED_BY_THIS_RUN` which directories hydra will create for the run.

    Raises:
        ConfigError: the composed config fails validation, or ``resume`` with other overrides.
        FileExistsError: ``hydra.run.dir`` exists (a new run never writes into it).
    """
    cfg = compose_config(overrides, return_hydra_config=True)
    validate_config(cfg)
    if cfg.resume:
        others = [o for o in overrides if not o.startswith("resume=")]
        if others:
            raise ConfigError([f"resume={cfg.resume}: takes no other override (the run goes on with its own config.yaml), got {others}"])
        return [*overrides, f"hydra.run.dir={cfg.resume}", f"hydra.output_subdir=.hydra/resume-{datetime.now():%Y-%m-%d_%H-%M-%S-%f}"]
    run_dir = Path(cfg.hydra.run.dir)
    if run_dir.exists():
        raise FileExistsError(f"hydra.run.dir={run_dir} exists: a run never writes into an earlier run's directory")
    global _CREATED_BY_THIS_RUN
    _CREATED_BY_THIS_RUN = _outermost_missing(run_dir)
    return overrides


def _check_sweep_dir(args: list[str]) -> None:
    """A sweep (``-m``) never writes into an existing ``hydra.sweep.dir`` (the default one is
    new: it carries the time to the microsecond).

    Raises:
        FileExistsError: an explicit ``hydra.sweep.dir=`` that exists.
    """
    for arg in args:
        if arg.startswith("hydra.sweep.dir=") and Path(arg.split("=", 1)[1]).exists():
            raise FileExistsError(f"{arg} exists: a sweep never writes into an earlier sweep's directory")


def cli() -> None:
    """``wsrl-train``: :func:`preflight` for a single run (a sweep: its
    directory checked, each job validated by :func:`main`), then :func:`main`."""
    args = sys.argv[1:]
    try:
        if any(a in ("-m", "--multirun") for a in args):
            _check_sweep_dir(args)
        elif not any(a.startswith("-") for a in args):  # other hydra flags (--cfg, --help...) go straight to hydra
            sys.argv[1:] = preflight(args)
    except (ConfigError, FileExistsError) as err:
        sys.exit(f"{type(err).__name__}: {err}")
    except (HydraException, OmegaConfBaseException) as err:  # refused while composing: one line
        sys.exit(f"ConfigError: {explain_compose_error(err)}")
    main()


if __name__ == "__main__":
    cli()

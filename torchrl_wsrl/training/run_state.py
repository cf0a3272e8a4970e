"""The run checkpoints of one run and what resuming from one restores (:class:`RunState`)."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from torchrl.checkpoint import GlobalRNGState

from torchrl_wsrl.agent import network_sizes
from torchrl_wsrl.checkpoint import EnvRNGState, ReplayState, RunCheckpoints
from torchrl_wsrl.envs import Task

__all__ = ["RunState"]


class RunState:
    """Owns ``RUN_DIR/checkpoints`` (:class:`~torchrl_wsrl.checkpoint.RunCheckpoints`): a phase
    saves the whole state of the run there (:meth:`save`), and a resumed run reads the latest
    one, checks it against its pieces and restores it (:meth:`restore`), so that it ends as the
    uninterrupted run would have.

    Args:
        run_dir: the run directory.
        cfg: the run config (``checkpoint.keep_last``, and recorded in every checkpoint).
        task: the run's task, written in and checked against every checkpoint.
        resume: read the latest checkpoint of ``run_dir`` now.

    Raises:
        FileNotFoundError: ``resume`` and no checkpoint under ``RUN_DIR/checkpoints``.
        CheckpointMismatchError: the latest checkpoint is unreadable or of another task.
    """

    def __init__(self, run_dir: Path, cfg: DictConfig, task: Task, *, resume: bool = False):
        self.cfg, self.task = cfg, task
        self.checkpoints = RunCheckpoints(Path(run_dir) / "checkpoints", keep_last=cfg.checkpoint.keep_last, task=task.name)
        self.path = self._latest(run_dir) if resume else None
        self.resumed = None if self.path is None else self.checkpoints.read(self.path)

    def _latest(self, run_dir: Path) -> Path:
        latest = self.checkpoints.latest()
        if latest is None:
            raise FileNotFoundError(f"{run_dir}: no checkpoint under {self.checkpoints.directory} to resume from")
        return latest

    @property
    def progress(self) -> dict:
        """The resumed checkpoint's progress (phase, steps, metric rows, summary...); ``{}``."""
        return self.resumed["progress"] if self.resumed is not None else {}

    @property
    def pending(self) -> bool:
        """A checkpoint was read and not yet restored."""
        return self.resumed is not None

    def check(self, *, loss, optimizers) -> None:
        """Check the checkpoint to resume from against the loss and optimizers of its phase.

        Raises:
            CheckpointMismatchError: missing, extra or misshapen entries, or non-finite values.
        """
        self.checkpoints.check(self.path, self.resumed, loss=loss, optimizers=optimizers)

    def save(self, phase: str, *, grad_step: int, env_step: int, loss, optimizers, recorder, summary, envs: dict, replay=None) -> None:
        """A run checkpoint at this point, after the divergence check: a diverged state is
        never saved, the last good one is kept. ``envs``: the envs whose generators it keeps
        (``eval``, and online ``collector``)."""
        recorder.check_divergence(phase, f"gradient step {grad_step}, env step {env_step}")
        progress = {
            "phase": phase, "grad_step": grad_step, "env_step": env_step, "metric_rows": recorder.metrics.rows,
            "elapsed_s": recorder.elapsed_s, "max_abs_reward": recorder.max_abs_reward.item(),
            "summary": {k: v for k, v in summary.__dict__.items() if k != "wall_times_s"},
        }
        networks = OmegaConf.to_container(network_sizes(self.cfg, self.task), resolve=True)
        position = grad_step if phase == "pretrain" else self.cfg.train.pretrain_steps + env_step
        self.checkpoints.save(
            position, loss=loss, optimizers=optimizers, replay=replay, envs=envs, progress=progress, interval=recorder.interval,
            run={"networks": {**networks, "num_critics": self.cfg.agent.num_critics}, "config": OmegaConf.to_container(self.cfg, resolve=True)},
        )

    def restore_collector_env(self, env) -> None:
        """Before the collector resets ``env``: that reset then draws the start state the
        uninterrupted run's collector drew after the checkpoint's episode end."""
        EnvRNGState(collector=env).load_state_dict({"collector": self.resumed["env_rng"]["collector"]})

    def restore(self, loss, optimizers, *, recorder, eval_env, replay=None) -> dict:
        """Apply the checkpoint (checked by :meth:`check`) to this phase's pieces and return its
        progress. The global generators come last, after every piece was built."""
        states = self.resumed
        loss.load_state_dict(states["loss"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(states["optimizers"][name])
        if replay is not None:
            ReplayState(replay).load_state_dict(states["replay"])
        EnvRNGState(eval=eval_env).load_state_dict({"eval": states["env_rng"]["eval"]})
        recorder.interval.load_state_dict(states["interval"])
        recorder.max_abs_reward.fill_(states["progress"]["max_abs_reward"])
        GlobalRNGState().load_state_dict(states["rng"])
        self.resumed = None  # applied once
        return states["progress"]

"""A run, split by responsibility: the phase loops (:mod:`~torchrl_wsrl.training.phases`), the
records (:class:`~torchrl_wsrl.training.recorder.Recorder`), the run checkpoints and resume
(:class:`~torchrl_wsrl.training.run_state.RunState`), and the :class:`Trainer` that builds them
from the config and sequences the phases."""
from torchrl_wsrl.training.phases import PhaseContext, online, pretrain
from torchrl_wsrl.training.recorder import Recorder
from torchrl_wsrl.training.run_state import RunState
from torchrl_wsrl.training.trainer import Hooks, Summary, Trainer

__all__ = ["Hooks", "PhaseContext", "Recorder", "RunState", "Summary", "Trainer", "online", "pretrain"]

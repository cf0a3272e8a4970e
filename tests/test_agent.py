"""Every loss and optimizer knob is reachable from the run config (torchrl_wsrl.agent)."""
import pytest

from torchrl_wsrl.agent import make_critic, make_loss, make_policy
from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.envs import get_task
from torchrl_wsrl.training import Trainer

KNOBS = [
    "agent.num_target_actions=7", "task.cql.temperature=0.5", "task.cql.alpha_init=2.5", "task.cql.lagrange=true",
    "task.cql.target_gap=0.3", "agent.cql_subsample_size=3", "task.cql.max_target_backup=true",
]


@pytest.mark.parametrize("regularized", [True, False])
def test_loss_knobs_reach_the_losses(regularized):
    cfg = compose_config(KNOBS + ["task.online_max_target_backup=true"])
    task = get_task(cfg.task.name)
    loss = make_loss(cfg, task, make_policy(cfg, task), make_critic(cfg, task), regularized=regularized)
    assert loss.num_target_actions == 7 and loss.max_target_backup
    if regularized:
        assert loss.cql_temperature == 0.5 and loss.cql_target_gap == 0.3 and loss.cql_subsample_size == 3
        assert loss.cql_weight().item() == pytest.approx(2.5)  # softplus(raw) starts at alpha_init


def test_optimizer_and_compile_knobs_reach_the_update_step(tmp_path, monkeypatch):
    seen = {}

    class Recording:
        def __init__(self, loss, optimizers, **kwargs):
            seen.update(kwargs, lrs={k: o.param_groups[0]["lr"] for k, o in optimizers.items()})

    monkeypatch.setattr("torchrl_wsrl.training.trainer.UpdateStep", Recording)
    cfg = compose_config(["profile=smoke", "task.cql.lagrange=true", "train.lr_cql_alpha=0.002", "update_step.compile_mode=reduce-overhead"])
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.make_update(trainer.pre_loss, trainer.pre_optimizers, utd_ratio=1, tau=0.1)
    assert seen["compile_mode"] == "reduce-overhead" and seen["lrs"]["cql_alpha"] == 0.002

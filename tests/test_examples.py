"""docs/examples: the losses in a plain TorchRL pipeline, run as a user runs them (a few steps)."""
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchrl_wsrl.modules import EnsembleQCritic, make_actor
from torchrl_wsrl.objectives import CalQLLoss, WSRLLoss

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
SIZES = ("--num-critics", "2", "--hidden", "16")  # hopper: 11 observations, 3 actions
LOSSES = ("loss_qvalue", "loss_actor", "loss_alpha")


def run_example(name: str, *args: str, cwd: Path, sizes: tuple[str, ...] = SIZES) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(EXAMPLES / name), *args, *sizes]
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def logged_losses(stdout: str) -> dict[int, dict[str, float]]:
    """``{step: {name: value}}`` from the printed lines ``step|env_step N name=value ...``."""
    return {
        int(line.split()[1]): {key: float(value) for key, value in re.findall(r"(\w+)=(\S+)", line)}
        for line in stdout.splitlines()
        if "loss_qvalue=" in line
    }


def fresh_loss(cls):
    actor = make_actor(11, 3, (16, 16))
    return cls(actor, EnsembleQCritic(11, 3, num_critics=2, hidden_sizes=(16, 16)), action_dim=3)


def wsrl_entries(state: dict) -> dict:
    return {key: value for key, value in state.items() if key in fresh_loss(WSRLLoss).state_dict()}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """The shipped hopper-medium data, 20 Cal-QL steps: ``(checkpoint path, stdout)``."""
    folder = tmp_path_factory.mktemp("pretrain")
    args = ("--steps", "20", "--log-every", "10", "--batch-size", "32", "--out", "calql.pt")
    return folder / "calql.pt", run_example("pretrain_calql.py", *args, cwd=folder)


def test_pretrain_calql_logs_finite_losses_and_saves_a_loadable_state(pretrained):
    path, stdout = pretrained
    rows = logged_losses(stdout)
    assert sorted(rows) == [10, 20]
    assert all(math.isfinite(row[key]) for row in rows.values() for key in LOSSES)
    # The calibration max(Q, mc_return) with the data's MC returns (hundreds on hopper) puts the
    # CQL penalty near them at near-zero Q, where it is about log(30) + 3 without calibration:
    # loss_qvalue = TD loss + 5 * penalty, far above 5 * 50.
    assert rows[20]["loss_qvalue"] > 250
    state = torch.load(path, weights_only=True)
    loss = fresh_loss(CalQLLoss)
    loss.load_state_dict(state)  # strict: every entry, every shape
    assert all(torch.equal(loss.state_dict()[key], value) for key, value in state.items())
    assert state["log_alpha"] != 0  # trained: the temperature starts at log(1) = 0
    assert set(fresh_loss(WSRLLoss).state_dict()) <= set(state)  # all that fine-tuning restores


def test_finetune_wsrl_from_the_checkpoint_updates_after_the_warmup(pretrained, tmp_path):
    path, _ = pretrained
    args = ("--checkpoint", str(path), "--steps", "30", "--warmup-steps", "20", "--utd-ratio", "2",
            "--batch-size", "16", "--log-every", "5", "--out", "wsrl.pt")
    rows = logged_losses(run_example("finetune_wsrl.py", *args, cwd=tmp_path))
    # Updates from the 20th env step on, 2 critic steps per env step: 2 * (step - 19) in all.
    assert {step: row["critic_steps"] for step, row in rows.items()} == {20: 2, 25: 12, 30: 22}
    assert all(math.isfinite(row[key]) for row in rows.values() for key in LOSSES)
    finetuned = torch.load(tmp_path / "wsrl.pt", weights_only=True)
    fresh_loss(WSRLLoss).load_state_dict(finetuned)  # strict
    start = wsrl_entries(torch.load(path, weights_only=True))
    actor_keys = [key for key in start if key.startswith("actor_network_params")]
    assert not all(torch.equal(finetuned[key], start[key]) for key in actor_keys)


def test_finetune_wsrl_restores_everything_and_takes_no_step_during_the_warmup(pretrained, tmp_path):
    """15 env steps of a 20-step warmup: the saved state is the pre-trained one, target critics
    included (``SoftUpdate`` would overwrite them with the critics if built after loading)."""
    path, _ = pretrained
    args = ("--checkpoint", str(path), "--steps", "15", "--warmup-steps", "20", "--batch-size", "16", "--out", "wsrl.pt")
    stdout = run_example("finetune_wsrl.py", *args, cwd=tmp_path)
    assert logged_losses(stdout) == {}
    start = wsrl_entries(torch.load(path, weights_only=True))
    after = torch.load(tmp_path / "wsrl.pt", weights_only=True)
    assert sorted(after) == sorted(start)
    assert all(torch.equal(after[key], value) for key, value in start.items())
    targets = [key for key in start if key.startswith("target_qvalue")]
    assert not all(torch.equal(start[key], start[key.removeprefix("target_")]) for key in targets)


def test_wsrl_over_a_torchrl_critic_and_prioritized_replay_trains_on_hopper(tmp_path):
    """docs/examples/wsrl_torchrl_critic.py: a ValueOperator(MLP) ensemble and a
    TensorDictPrioritizedReplayBuffer, 100 steps after the warmup, finite losses logged."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, str(EXAMPLES / "wsrl_torchrl_critic.py"), "--steps", "150", "--warmup-steps", "50",
        "--log-every", "50", "--batch-size", "32", "--num-critics", "3", "--hidden", "32",
    ]
    out = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = logged_losses(out.stdout)
    assert sorted(rows) == [100, 150]
    assert all(math.isfinite(row[key]) for row in rows.values() for key in LOSSES)
    assert out.stdout.strip().endswith("done")
    # The prioritized buffer where TorchRL's segment trees load; here (torchrl 0.14.1's C++
    # extension against torch 2.13.0) they do not, and the script says so.
    assert "replay: prioritized" in out.stdout or "prioritized sampler is unavailable here" in out.stdout


def test_finetune_wsrl_starts_from_a_shipped_agent(tmp_path):
    """An agent file of this package (here the shipped halfcheetah-medium-replay agent, the
    paper's sizes) loads into the example's loss: before any update (warmup not complete) the
    saved state is the agent's, entry for entry."""
    from torchrl_wsrl.assets import shipped_agent_path

    agent = shipped_agent_path("halfcheetah-medium-replay")
    args = ("--env", "HalfCheetah-v5", "--checkpoint", str(agent), "--steps", "4", "--warmup-steps", "5", "--out", "wsrl.pt")
    run_example("finetune_wsrl.py", *args, cwd=tmp_path, sizes=())
    saved, shipped = torch.load(tmp_path / "wsrl.pt", weights_only=True), torch.load(agent, weights_only=True)["loss"]
    assert saved.keys() <= shipped.keys() and "log_alpha" in saved
    assert all(torch.equal(value, shipped[key]) for key, value in saved.items())

"""The trained agents shipped in the package (torchrl_wsrl/assets/<task>.agent.pt): each loads
with weights_only=True, plays at its recorded level, restores into the run that fine-tunes it,
and is chosen by ``pretrained=``."""
import json
import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from tensordict import TensorDict
from torchrl.envs.utils import ExplorationType, set_exploration_type

from torchrl_wsrl.assets import ASSETS, shipped_agent_info, shipped_agent_path, shipped_agent_tasks
from torchrl_wsrl.checkpoint import CheckpointMismatchError, export_agent, load_checkpoint, load_policy
from torchrl_wsrl.conf.plan import RunPlan
from torchrl_wsrl.envs import episode_score, get_task, make_env
from torchrl_wsrl.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = shipped_agent_tasks()


def _compose(*overrides):
    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_the_main_task_ships_an_agent():
    assert "halfcheetah-medium-replay" in SHIPPED
    with pytest.raises(FileNotFoundError, match=r"no trained agent is shipped for task 'pen-binary'; shipped: .*halfcheetah-medium-replay"):
        shipped_agent_path("pen-binary")


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_agent_loads_with_weights_only_and_plays_at_its_recorded_level(name):
    torch.set_num_threads(1)
    info, path = shipped_agent_info(name), shipped_agent_path(name)
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["task"] == name and set(state["optimizers"]) == {"actor", "critic", "alpha"}
    assert any(k.startswith("target_qvalue_network_params") for k in state["loss"])
    assert "log_alpha" in state["loss"]
    task, policy = get_task(name), load_policy(path)
    env = make_env(task, seed=1)
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        scores = [
            episode_score(task, env.rollout(task.max_episode_steps, policy, break_when_any_done=True)["next", "reward"], None)
            for _ in range(3)
        ]
    low, high = info["score_range"]
    assert low <= sum(scores) / 3 <= high, (scores, info["score_range"])


@pytest.mark.parametrize("name", SHIPPED)
def test_the_provenance_describes_the_file(name):
    info, state = shipped_agent_info(name), load_checkpoint(shipped_agent_path(name))["loss"]
    weights = state["qvalue_network_params.net.weights.0"]  # [num_critics, in, hidden]
    assert weights.shape[0] == info["network"]["num_critics"]
    assert weights.shape[-1] == info["network"]["critic_hidden"][0]
    assert info["data_score"] < info["score_range"][0] <= info["score"] <= info["score_range"][1]
    assert {"command", "commit", "gradient_steps", "wall_time_h", "q_pred", "q_mc_return"} <= set(info)


def test_the_shipped_file_is_the_agent_of_the_committed_run_checkpoint(tmp_path):
    """export_agent of the pre-training run's committed checkpoint gives the shipped file, tensor
    for tensor (docs/results/pretraining/<task>/run)."""
    name = "halfcheetah-medium-replay"
    info = shipped_agent_info(name)
    run = ROOT / "docs" / "results" / "pretraining" / name / "run" / "checkpoints" / f"checkpoint-{info['gradient_steps']:012d}"
    if not run.is_dir():
        pytest.skip(f"{run} is not in this checkout (a later checkpoint was committed)")
    exported = load_checkpoint(export_agent(run, tmp_path / "agent.pt"))
    shipped = load_checkpoint(shipped_agent_path(name))
    assert exported["task"] == shipped["task"] == name
    assert exported["loss"].keys() == shipped["loss"].keys()
    assert all(torch.equal(exported["loss"][k], shipped["loss"][k]) for k in shipped["loss"])
    with pytest.raises(FileExistsError):
        export_agent(run, tmp_path / "agent.pt")


@pytest.mark.parametrize(
    "overrides, source",
    [
        ([], "shipped"),  # the main job: the default task ships an agent
        (["pretrained=shipped"], "shipped"),
        (["pretrained=none"], "pre-training"),
        (["task=hopper-medium-replay"], "pre-training"),  # auto, where none is shipped
        (["algo=rlpd"], "none"),
    ],
)
def test_pretrained_chooses_where_the_agent_comes_from(overrides, source):
    plan = RunPlan.of(_compose(*overrides))
    assert plan.agent_source == source
    assert plan.pretrain == (source == "pre-training")
    assert (plan.agent_file == str(shipped_agent_path("halfcheetah-medium-replay"))) == (source == "shipped")


@pytest.mark.parametrize("name", SHIPPED)
def test_each_task_with_a_shipped_agent_fine_tunes_its_own_by_default(name):
    plan = RunPlan.of(_compose(f"task={name}"))
    assert (plan.agent_source, plan.agent_file, plan.pretrain) == ("shipped", str(shipped_agent_path(name)), False)


def test_pretrained_checkpoint_overrides_pretrained(tmp_path):
    agent = tmp_path / "final.pt"
    agent.touch()
    for choice in ("auto", "shipped", "none"):
        plan = RunPlan.of(_compose(f"pretrained={choice}", f"pretrained_checkpoint={agent}"))
        assert (plan.agent_source, plan.agent_file) == ("pretrained_checkpoint", str(agent))


def test_the_main_job_restores_the_shipped_agent_whole(tmp_path):
    """The default run builds its loss and checks the shipped file against it (every entry,
    shape and Adam state) before any work; the online loss then holds its weights."""
    torch.set_num_threads(1)
    trainer = Trainer(_compose("update_step.compile=false", "train.eval_episodes=1"), tmp_path / "run")
    assert trainer.plan.agent_source == "shipped" and trainer.offline_data is None
    assert "the shipped agent of halfcheetah-medium-replay" in trainer.summary.table()
    own, shipped = trainer.pre_loss.state_dict(), trainer.pretrained["loss"]
    assert set(own) - set(shipped) <= {"cql_alpha", "cql_alpha_raw"}
    json.dumps(trainer.summary.__dict__)  # summary.json stays writable


def test_asking_for_a_shipped_agent_that_does_not_exist_is_refused():
    from torchrl_wsrl.validation import ConfigError, validate_config

    with pytest.raises(ConfigError, match="no trained agent is shipped for task=hopper-medium-replay"):
        validate_config(_compose("task=hopper-medium-replay", "pretrained=shipped"))
    with pytest.raises(ConfigError, match=r"network\S*: the shipped agent .* 128x128.* pretrained=none"):
        validate_config(_compose("network=cpu"))


def test_assets_are_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"torchrl_wsrl.assets" = [' in pyproject and '"*.agent.pt"' in pyproject and '"*.agent.json"' in pyproject
    assert all((ASSETS / f"{name}.agent.json").is_file() for name in SHIPPED)


def test_load_agent_gives_the_file_back_ready_to_train():
    """load_agent: the actor, critics, target critics, temperature and Adam states of the file
    in a WSRLLoss at the task's settings; one forward pass gives finite losses."""
    from torchrl_wsrl import WSRLLoss, load_agent
    from torchrl_wsrl.checkpoint import agent_file_networks

    torch.set_num_threads(1)
    path = shipped_agent_path("halfcheetah-medium-replay")
    stored = load_checkpoint(path)
    agent = load_agent(path)
    assert isinstance(agent.loss, WSRLLoss)
    own = agent.loss.state_dict()
    assert all(torch.equal(own[k], v) for k, v in stored["loss"].items() if k in own)
    assert set(stored["loss"]) - set(own) <= {"cql_alpha", "cql_alpha_raw"}
    assert agent.optimizers["critic"].state_dict()["state"][0]["step"] == stored["optimizers"]["critic"]["state"][0]["step"]
    assert agent_file_networks(stored["loss"]) == {
        "num_critics": 10, "critic_hidden": [256, 256], "head": "per_critic", "actor_hidden": [256, 256], "state_dependent_std": True,
    }
    batch = TensorDict(
        {"observation": torch.randn(16, 17), "action": torch.rand(16, 6) * 2 - 1,
         "next": {"observation": torch.randn(16, 17), "reward": torch.randn(16, 1), "terminated": torch.zeros(16, 1, dtype=torch.bool)}},
        [16],
    )
    out = agent.loss(batch)
    assert all(torch.isfinite(out[k]).all() for k in ("loss_qvalue", "loss_actor", "loss_alpha"))


def test_load_agent_refuses_a_file_of_no_registered_task(tmp_path):
    from torchrl_wsrl import load_agent

    path = tmp_path / "agent.pt"
    torch.save({"loss": {}, "optimizers": {}, "task": "no-such-task"}, path)
    with pytest.raises(ValueError, match=f"{path}: names no registered task"):
        load_agent(path)


def test_a_config_saved_before_pretrained_existed_pre_trains():
    """A run's config.yaml of an earlier version has no ``pretrained``: it pre-trained then,
    and resuming it must not switch it to the shipped agent."""
    from omegaconf import OmegaConf, open_dict

    cfg = _compose()
    with open_dict(cfg):
        del cfg["pretrained"]
    plan = RunPlan.of(OmegaConf.create(OmegaConf.to_container(cfg)))
    assert plan.agent_source == "pre-training" and plan.pretrain


def test_export_agent_names_what_it_expects(tmp_path):
    """A run directory or an agent file given for the run checkpoint: the error says what to give."""
    run = ROOT / "docs" / "results" / "pretraining" / "halfcheetah-medium-replay" / "run"
    latest = max((run / "checkpoints").glob("checkpoint-*"))
    with pytest.raises(CheckpointMismatchError, match=re.escape(f"this run's latest: {latest}")):
        export_agent(run, tmp_path / "agent.pt")
    with pytest.raises(CheckpointMismatchError, match="a file is an agent file already"):
        export_agent(shipped_agent_path("halfcheetah-medium-replay"), tmp_path / "agent.pt")
    assert not (tmp_path / "agent.pt").exists()

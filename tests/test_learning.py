"""Learning, not only running: a short seeded pre-training on the shipped hopper-medium data must
leave a policy clearly better than uniform random actions (a regression that stops phase 1 from
learning fails here)."""
import pytest
import torch
from hydra import compose, initialize_config_module

from torchrl_wsrl.data.sources import dataset_score, sample_path
from torchrl_wsrl.envs import episode_score, get_task, make_env
from torchrl_wsrl.training import Trainer

TASK = get_task("hopper-medium")


def uniform_random_score(episodes: int = 5) -> float:
    env = make_env(TASK, seed=123)
    scores = []
    for _ in range(episodes):
        rollout = env.rollout(TASK.max_episode_steps, break_when_any_done=True)  # no policy: random actions
        scores.append(episode_score(TASK, rollout["next", "reward"], None))
    return sum(scores) / len(scores)


def test_short_pretraining_beats_random_actions(tmp_path):
    """Measured (1 thread, 3 evaluation episodes): 2,500 BC steps score 32.3 / 41.1 / 5.3 for
    seeds 0 / 1 / 2 against a threshold of 12.7; 1,500 steps scored 11.2 / 28.8 / 5.1. BC's
    outcome is bimodal across seeds (seed 2 falls at once at both lengths), so the seed is
    pinned and the length leaves a margin for changes in the order of random draws."""
    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        cfg = compose("config", overrides=[
            "profile=smoke", "task=hopper-medium", "train.pretrain_steps=2500", "train.bc_steps=2500", "train.pretrain_eval_every=2500",
            "train.online_steps=0", "train.eval_episodes=3", "train.batch_size=128", "train.lr_actor=1e-3",
            "network.locomotion.actor_hidden=[64,64]", "task.cql.num_actions=2",
            f"dataset_path={sample_path(TASK)}", "seed=0",
        ])
    torch.manual_seed(0)
    summary = Trainer(cfg, tmp_path / "run").run()
    random_score = uniform_random_score()
    data_score = dataset_score(TASK, sample_path(TASK))
    assert summary.data_score == pytest.approx(data_score)
    # "clearly": at least a quarter of the way from random actions to the data's own level.
    assert summary.after_pretraining > random_score + 0.25 * (data_score - random_score), (
        summary.after_pretraining, random_score, data_score
    )

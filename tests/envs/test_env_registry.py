import dataclasses

import pytest

from torchrl_wsrl.envs import Task, get_task, list_tasks
from torchrl_wsrl.domains import BEHAVIOURS, DOMAINS, METRICS

LOCOMOTION = [
    f"{env}-{level}"
    for env in ("halfcheetah", "hopper", "walker2d")
    for level in ("random", "medium", "medium-replay", "expert", "medium-expert")
]
ANTMAZE = [
    "antmaze-umaze",
    "antmaze-umaze-diverse",
    "antmaze-medium-play",
    "antmaze-medium-diverse",
    "antmaze-large-play",
    "antmaze-large-diverse",
    "antmaze-ultra-play",
    "antmaze-ultra-diverse",
]
OTHERS = [
    "kitchen-partial",
    "kitchen-mixed",
    "kitchen-complete",
    "pen-binary",
    "door-binary",
    "relocate-binary",
    "pointmaze-umaze",
    "pointmaze-medium",
    "pointmaze-large",
]


def test_registry_holds_exactly_the_paper_tasks():
    assert list_tasks() == sorted(LOCOMOTION + ANTMAZE + OTHERS)


@pytest.mark.parametrize("name", list_tasks())
def test_task_fields_are_consistent(name):
    task = get_task(name)
    assert task.name == name
    assert task.domain in DOMAINS and task.metric in METRICS and task.behaviour in BEHAVIOURS
    assert task.obs_dim > 0 and task.action_dim > 0 and task.max_episode_steps > 0
    assert task.has_success == (task.domain != "locomotion")
    hash(task)  # frozen and hashable: env_kwargs is a tuple of pairs
    assert isinstance(dict(task.env_kwargs), dict)


def test_task_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_task("hopper-medium").reward_scale = 2.0


@pytest.mark.parametrize(
    "name, scale, bias, sparse, metric",
    [
        ("hopper-medium", 1.0, 0.0, False, "normalized_return"),
        ("antmaze-large-diverse", 10.0, -5.0, True, "normalized_return"),
        ("kitchen-partial", 1.0, -4.0, False, "kitchen_final"),
        ("pen-binary", 10.0, 5.0, True, "success_rate"),
        ("pointmaze-umaze", 1.0, -1.0, True, "normalized_return"),
    ],
)
def test_domain_settings(name, scale, bias, sparse, metric):
    task = get_task(name)
    assert (task.reward_scale, task.reward_bias, task.sparse, task.metric) == (
        scale,
        bias,
        sparse,
        metric,
    )


@pytest.mark.parametrize(
    "name, ref_min, ref_max",
    [
        ("hopper-medium", -20.272305, 3234.3),
        ("halfcheetah-expert", -280.178953, 12135.0),
        ("walker2d-random", 1.629008, 4592.3),
        ("antmaze-umaze", 0.0, 1.0),
        ("kitchen-mixed", 0.0, 4.0),
    ],
)
def test_d4rl_reference_scores(name, ref_min, ref_max):
    task = get_task(name)
    assert (task.ref_min_score, task.ref_max_score) == (ref_min, ref_max)


@pytest.mark.parametrize(
    "name, steps",
    [
        ("hopper-random", 1000),
        ("antmaze-umaze", 700),
        ("antmaze-medium-play", 1000),
        ("antmaze-large-diverse", 1000),
        ("antmaze-ultra-diverse", 2000),
        ("kitchen-complete", 280),
        ("pen-binary", 100),
        ("door-binary", 200),
        ("relocate-binary", 200),
        ("pointmaze-umaze", 300),
        ("pointmaze-medium", 600),
        ("pointmaze-large", 800),
    ],
)
def test_episode_lengths(name, steps):
    assert get_task(name).max_episode_steps == steps


def test_dataset_names():
    task = get_task("antmaze-large-diverse")
    assert (task.d4rl_name, task.minari_id) == (
        "antmaze-large-diverse-v2",
        "D4RL/antmaze/large-diverse-v1",
    )
    assert get_task("hopper-medium").minari_id == "mujoco/hopper/medium-v0"
    assert get_task("hopper-medium-replay").minari_id is None
    assert get_task("kitchen-partial").d4rl_name == "kitchen-partial-v0"
    assert get_task("pen-binary").d4rl_name == "pen-binary-v0"


def test_kitchen_subtasks_follow_d4rl():
    slider = ("microwave", "kettle", "light switch", "slide cabinet")
    burner = ("microwave", "kettle", "bottom burner", "light switch")
    assert dict(get_task("kitchen-partial").env_kwargs)["tasks_to_complete"] == slider
    assert dict(get_task("kitchen-complete").env_kwargs)["tasks_to_complete"] == slider
    assert dict(get_task("kitchen-mixed").env_kwargs)["tasks_to_complete"] == burner


@pytest.mark.parametrize("name", ANTMAZE)
def test_antmaze_eval_map_has_one_start_and_one_goal(name):
    maze_map = dict(get_task(name).env_kwargs)["maze_map"]
    cells = [cell for row in maze_map for cell in row]
    assert cells.count("r") == 1 and cells.count("g") == 1
    assert all(len(row) == len(maze_map[0]) for row in maze_map)


def test_ultra_maze_is_12_by_16():
    maze_map = dict(get_task("antmaze-ultra-play").env_kwargs)["maze_map"]
    assert (len(maze_map), len(maze_map[0])) == (12, 16)


def test_unknown_task_lists_close_names():
    with pytest.raises(KeyError, match="hopper-medium"):
        get_task("hoper-medium")
    with pytest.raises(KeyError, match="known tasks"):
        get_task("zzz")


def test_invalid_task_is_rejected():
    fields = dataclasses.asdict(get_task("hopper-medium"))
    with pytest.raises(KeyError, match="unknown domain 'atari'"):
        Task(**{**fields, "domain": "atari"}).rules  # a task's domain is looked up, not trusted

"""The collector factory: building a collector takes no draw from the global generator, and
the trainer's SamplingPolicy collects the actor's own actions, random frames included."""
import pytest
import torch

from torchrl_wsrl.collectors import make_collector
from torchrl_wsrl.envs import get_task, make_env
from torchrl_wsrl.modules import SamplingPolicy, make_actor

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
HOPPER = get_task("hopper-medium")


def collected_actions(policy, *, seed: int = 1) -> tuple[torch.Tensor, float]:
    torch.manual_seed(seed)
    collector = make_collector(make_env(HOPPER, seed=0), policy, total_frames=30, random_frames=10)
    actions = torch.cat([batch["action"] for batch in collector])
    collector.shutdown()
    return actions, torch.rand(()).item()


def test_sampling_policy_collects_the_actors_actions():
    torch.manual_seed(0)
    actor = make_actor(HOPPER.obs_dim, HOPPER.action_dim, (16, 16))
    with_actor, after_actor = collected_actions(actor)
    with_policy, after_policy = collected_actions(SamplingPolicy(actor))
    torch.testing.assert_close(with_policy, with_actor, rtol=0, atol=0)
    assert after_policy == after_actor  # the same draws from the global generator


def test_building_a_collector_takes_no_random_draw():
    actor = SamplingPolicy(make_actor(HOPPER.obs_dim, HOPPER.action_dim, (16,)))
    env = make_env(HOPPER, seed=0)
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    make_collector(env, actor, total_frames=5).shutdown()
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize("kwargs", [{"total_frames": 0}, {"total_frames": 5, "frames_per_batch": 0}, {"total_frames": 5, "random_frames": -1}])
def test_bad_counts_are_refused(kwargs):
    with pytest.raises(ValueError, match="must be"):
        make_collector(make_env(HOPPER, seed=0), None, **kwargs)

"""The run config's sources: the task list and domains from the registry, the settings of each
domain from its yaml, the network sizes from the ``network`` group that a profile chooses."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from torch import nn

import torchrl_wsrl
from torchrl_wsrl.agent import make_critic, make_policy, network_sizes
from torchrl_wsrl.domains import DOMAINS, NETWORK_SCALES
from torchrl_wsrl.envs.registry import get_task, list_tasks
from torchrl_wsrl.validation import NETWORK_KEYS, ConfigError, validate_config

CONF = Path(torchrl_wsrl.__file__).resolve().parent / "conf"
PROFILES = sorted(p.stem for p in (CONF / "profile").glob("*.yaml"))
# The network option each profile declares (conf/profile/*.yaml); paper keeps config.yaml's.
PROFILE_NETWORK = {"compare": "compare", "default": "paper", "paper": "paper", "smoke": "smoke"}


def _compose(*overrides: str, hydra: bool = False):
    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


def test_the_task_options_are_the_registered_tasks():
    """Both ways, by construction: no yaml of conf/task/ names a task (one would shadow the
    registry's), and hydra's task group lists each registered task and each domain's base."""
    assert sorted(p.name for p in (CONF / "task").iterdir()) == sorted(f"_{d}.yaml" for d in DOMAINS)
    with initialize_config_module("torchrl_wsrl.conf", version_base="1.3"):
        compose("config")  # as a run: loading config.yaml imports torchrl_wsrl.conf, which stores the tasks
        options = GlobalHydra.instance().config_loader().get_group_options("task")
    assert sorted(options) == sorted([*list_tasks(), *(f"_{d}" for d in DOMAINS)])


@pytest.mark.parametrize("name", list_tasks())
def test_a_task_composes_the_settings_of_its_domain(name):
    """``task=NAME`` is the yaml of the task's domain, read here as written, plus the name
    (profile=paper overrides no task key)."""
    expected = OmegaConf.load(CONF / "task" / f"_{get_task(name).domain}.yaml")
    assert OmegaConf.to_container(_compose(f"task={name}", "profile=paper").task) == {
        **OmegaConf.to_container(expected), "name": name
    }


def _option(scale: str) -> dict:
    """The ``network`` option of ``scale`` as the domains define it."""
    return {name: domain.networks(scale) for name, domain in DOMAINS.items()}


@pytest.mark.parametrize("scale", NETWORK_SCALES)
def test_every_network_option_names_every_domain(scale):
    option = OmegaConf.to_container(_compose(f"network={scale}").network)
    assert option == _option(scale)
    assert sorted(option) == sorted(DOMAINS)
    for domain, sizes in option.items():
        assert sorted(sizes) == sorted(NETWORK_KEYS), domain


@pytest.mark.parametrize(
    "scale, domain, critic, actor",
    [
        ("paper", "locomotion", [256, 256], [256, 256]),
        ("paper", "antmaze", [256] * 4, [256] * 2),
        ("paper", "kitchen", [512] * 3, [512] * 3),
        ("paper", "adroit", [512] * 3, [512] * 2),
        ("cpu", "antmaze", [128] * 4, [128] * 2),
        ("compare", "adroit", [64] * 3, [128] * 2),
        ("smoke", "kitchen", [32] * 3, [32] * 3),
    ],
)
def test_a_scale_keeps_the_paper_layer_counts_at_its_widths(scale, domain, critic, actor):
    """The authors' widths per domain (WSRL doc, per-domain table) and the narrower scales."""
    assert DOMAINS[domain].networks(scale) == {"critic_hidden": critic, "actor_hidden": actor}


def test_the_profiles_are_the_ones_mapped_here():
    assert sorted(PROFILE_NETWORK) == PROFILES


@pytest.mark.parametrize("profile", PROFILES)
def test_a_profile_changes_the_networks_only_by_choosing_a_network_option(profile):
    """The composed ``network`` is the chosen option's file as written, and no profile writes a
    network size of its own (not under ``network``, not under ``task`` where they once were)."""
    cfg = _compose(f"profile={profile}", hydra=True)
    assert cfg.hydra.runtime.choices.network == PROFILE_NETWORK[profile]
    assert OmegaConf.to_container(cfg.network) == _option(PROFILE_NETWORK[profile])
    body = OmegaConf.load(CONF / "profile" / f"{profile}.yaml")
    assert "network" not in body and not set(NETWORK_KEYS) & set(body.get("task", {}))


def test_the_command_line_chooses_a_network_option_over_the_profile():
    cfg = _compose("profile=default", "network=paper", "task=antmaze-umaze")
    assert network_sizes(cfg, get_task("antmaze-umaze")) == _option("paper")["antmaze"]


@pytest.mark.parametrize("name", ["antmaze-umaze", "kitchen-mixed", "pen-binary", "hopper-medium"])
def test_the_networks_have_the_sizes_of_the_task_domain(name):
    """Built by make_critic / make_policy: the hidden widths of each critic (EnsembleMLP's
    per-layer biases) and of the actor (its Linear layers but the head)."""
    task = get_task(name)
    cfg = _compose(f"task={name}", "profile=default", "agent.num_critics=2")
    sizes = OmegaConf.create(_option(PROFILE_NETWORK["default"])[task.domain])
    critic_widths = [bias.shape[-1] for bias in make_critic(cfg, task).net.biases]
    actor_widths = [m.out_features for m in make_policy(cfg, task).modules() if isinstance(m, nn.Linear)][:-1]
    assert (critic_widths, actor_widths) == (list(sizes.critic_hidden), list(sizes.actor_hidden))


def test_a_network_option_without_the_task_domain_is_refused_in_one_line():
    cfg = _compose("task=antmaze-umaze", "~network.antmaze", hydra=True)
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    assert info.value.problems == [
        "network.antmaze: missing: network=paper has no entry for the domain 'antmaze' of task=antmaze-umaze "
        "(a network option has one entry per domain, with critic_hidden and actor_hidden)"
    ]

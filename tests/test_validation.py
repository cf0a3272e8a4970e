"""validate_config on real composed configs: clean defaults, one bad input per check."""
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf, open_dict

import torchrl_wsrl
from torchrl_wsrl.validation import ConfigError, explain_compose_error, validate_config

ASSET = Path(torchrl_wsrl.__file__).resolve().parent / "assets" / "hopper-medium.hdf5"  # data for the hopper tasks


def _compose(*overrides: str):
    """The config of ``overrides``, on hopper-medium-replay (which ships no agent: it pre-trains) unless
    they name a task."""
    task = [] if any(o.startswith("task=") for o in overrides) else ["task=hopper-medium-replay"]
    with initialize_config_module(config_module="torchrl_wsrl.conf", version_base="1.3"):
        return compose(config_name="config", overrides=[*task, *overrides], return_hydra_config=False)


def _problems(*overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(_compose(*overrides))
    return str(info.value)


@pytest.mark.parametrize("profile", ["default", "smoke", "paper", "compare"])
@pytest.mark.parametrize("algo", ["wsrl", "wsrl_no_warmup", "sac_scratch", "rlpd", "calql_online"])
@pytest.mark.parametrize("task", ["hopper-medium", "antmaze-umaze", "pen-binary", "kitchen-mixed"])
def test_shipped_configs_validate(profile, algo, task):
    validate_config(_compose(f"profile={profile}", f"algo={algo}", f"task={task}"))


def test_pretrained_checkpoint_and_dataset_path_that_are_used_validate(tmp_path):
    checkpoint = tmp_path / "pretrained.pt"
    checkpoint.touch()
    validate_config(_compose(f"pretrained_checkpoint='{checkpoint}'"))
    validate_config(_compose(f"dataset_path='{ASSET}'"))
    validate_config(_compose("algo=rlpd", f"dataset_path='{ASSET}'"))  # offline data online
    minari = tmp_path / "minari" / "hopper-medium-replay-v0"
    (minari / "data").mkdir(parents=True)
    validate_config(_compose(f"dataset_path='{minari}'"))


# (overrides, substrings the message must hold: the key and value, and what was expected)
BAD = {
    "utd_not_dividing_batch": (["train.utd_ratio=3"], ["train.utd_ratio=3", "must divide train.online_batch_size=1024"]),
    "batch_size_0": (["train.batch_size=0"], ["train.batch_size=0", "positive integer"]),
    "online_batch_size_negative": (["train.online_batch_size=-8"], ["train.online_batch_size=-8", "positive integer"]),
    "eval_episodes_0": (["train.eval_episodes=0"], ["train.eval_episodes=0", "positive integer"]),
    "eval_every_0": (["train.eval_every=0"], ["train.eval_every=0", "positive integer"]),
    "pretrain_eval_every_0": (["train.pretrain_eval_every=0"], ["train.pretrain_eval_every=0"]),
    "buffer_capacity_0": (["train.buffer_capacity=0"], ["train.buffer_capacity=0"]),
    "num_actions_0": (["task.cql.num_actions=0"], ["task.cql.num_actions=0"]),
    "negative_warmup": (["train.warmup_steps=-5"], ["train.warmup_steps=-5", "non-negative integer"]),
    "negative_seed": (["seed=-1"], ["seed=-1", "non-negative integer"]),
    "online_steps_below_warmup": (
        ["train.online_steps=500"], ["train.online_steps=500", "train.warmup_steps=5000", "no update would ever run"]
    ),
    "online_steps_below_one_batch": (
        ["algo=wsrl_no_warmup", "train.online_steps=1024"], ["train.online_steps=1024", "must exceed 1024", "no update would ever run"]
    ),
    "online_steps_below_online_share": (
        ["algo=rlpd", "train.warmup_steps=0", "train.online_steps=100"], ["train.online_steps=100", "must exceed 512"]
    ),
    "bc_longer_than_pretraining": (["train.bc_steps=60000"], ["train.bc_steps=60000", "train.pretrain_steps=50000"]),
    "pretrain_without_steps": (["train.pretrain_steps=0", "train.bc_steps=0"], ["train.pretrain_steps=0", "pretrained_checkpoint"]),
    "gamma_1": (["agent.gamma=1.0"], ["agent.gamma=1.0", "(0, 1)"]),
    "tau_0": (["agent.tau=0"], ["agent.tau=0", "(0, 1]"]),
    "pretrain_tau_above_1": (["agent.pretrain_tau=1.5"], ["agent.pretrain_tau=1.5", "(0, 1]"]),
    "offline_ratio_1": (["algo.offline_ratio=1"], ["algo.offline_ratio=1", "[0, 1)"]),
    "lr_critic_negative": (["train.lr_critic=-1"], ["train.lr_critic=-1", "> 0"]),
    "online_lr_critic_zero": (["train.online_lr_critic=0"], ["train.online_lr_critic=0", "> 0"]),
    "q_bound_factor_0": (["train.q_bound_factor=0"], ["train.q_bound_factor=0", "> 0"]),
    "cql_subsample_too_big": (["agent.cql_subsample_size=11", "agent.subsample_replace=false"], ["agent.cql_subsample_size=11", "agent.num_critics=10"]),
    "precision_fp8": (["critic.precision=fp8"], ["critic.precision='fp8'"]),
    "head_unknown": (["critic.head=single"], ["critic.head='single'", "per_critic, shared"]),
    "eval_policy_greedy": (["train.eval_policy=greedy"], ["train.eval_policy='greedy'", "deterministic, sampling"]),
    "lr_alpha_inf": (["train.lr_alpha=inf"], ["train.lr_alpha=inf", "finite"]),
    "alpha_init_0": (["agent.alpha_init=0"], ["agent.alpha_init=0", "> 0"]),
    "cql_alpha_negative": (["task.cql.alpha=-1"], ["task.cql.alpha=-1", ">= 0"]),
    "threads_0": (["threads=0"], ["threads=0", "null or a positive integer"]),
    "subsample_too_big_without_replacement": (
        ["agent.subsample_replace=false", "agent.subsample_size=11"], ["agent.subsample_size=11", "agent.num_critics=10"]
    ),
    "abstract_task_group": (["task=_locomotion"], ["task.name=null", "task=_locomotion", "hopper-medium", "antmaze-umaze"]),
    "unknown_task": (["task.name=hopper-mediun"], ["task.name='hopper-mediun'", "closest: hopper-medium"]),
    "network_without_the_domain": (
        ["task=kitchen-mixed", "~network.kitchen"], ["network.kitchen: missing", "no entry for the domain 'kitchen'", "task=kitchen-mixed"]
    ),
    "critic_hidden_empty": (["network.locomotion.critic_hidden=[]"], ["network.locomotion.critic_hidden=[]", "non-empty list"]),
    "actor_hidden_zero_width": (["network.locomotion.actor_hidden=[64,0]"], ["network.locomotion.actor_hidden=[64, 0]", "positive integers"]),
    "checkpoint_ignored_by_sac_scratch": (
        ["algo=sac_scratch", "pretrained_checkpoint='{checkpoint}'"], ["pretrained_checkpoint='{checkpoint}'", "algo=sac_scratch", "ignored"]
    ),
    "checkpoint_ignored_by_rlpd": (["algo=rlpd", "pretrained_checkpoint='{checkpoint}'"], ["pretrained_checkpoint=", "algo=rlpd"]),
    "missing_checkpoint": (["pretrained_checkpoint='{tmp}/nope.pt'"], ["pretrained_checkpoint='{tmp}/nope.pt'", "no such file"]),
    "missing_dataset_file": (["dataset_path='{tmp}/nope.hdf5'"], ["dataset_path='{tmp}/nope.hdf5'", "Minari"]),
    "dataset_ignored_by_sac_scratch": (["algo=sac_scratch", f"dataset_path='{ASSET}'"], [f"dataset_path='{ASSET}'", "algo=sac_scratch", "ignored"]),
    "dataset_ignored_with_checkpoint": (
        ["pretrained_checkpoint='{checkpoint}'", f"dataset_path='{ASSET}'"], [f"dataset_path='{ASSET}'", "loads no offline data"]
    ),
    "device_bogus": (["device=bogus"], ["device='bogus'", "not a torch device"]),
    "device_unsupported_type": (["device=meta"], ["device='meta'", "unsupported device type"]),
    "cudagraphs_on_cpu": (["update_step.cudagraphs=true"], ["update_step.cudagraphs=true", "CUDA device", "device='cpu'"]),
    "unknown_critic_backend": (["critic.backend=cudnn"], ["critic.backend='cudnn'", "eager, triton"]),
    "unknown_warmup_policy": (["algo.warmup_policy=greedy"], ["algo.warmup_policy='greedy'"]),
    "checkpoint_pretrain_every_0": (["++checkpoint.pretrain_every=0"], ["checkpoint.pretrain_every=0", "positive integer"]),
    "checkpoint_keep_last_0": (["++checkpoint.keep_last=0"], ["checkpoint.keep_last=0", "positive integer"]),
    "unknown_logger": (["++logger=mlflow"], ["logger='mlflow'", "csv, tensorboard, wandb"]),
    "resume_missing_directory": (["++resume='{tmp}/no-run'"], ["resume='{tmp}/no-run'", "no such run directory"]),
    "resume_not_a_run": (["++resume='{tmp}'"], ["resume='{tmp}'", "config.yaml", "checkpoints/"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_reported(case, tmp_path):
    overrides, expected = BAD[case]
    checkpoint = tmp_path / "pretrained.pt"
    checkpoint.touch()
    fill = dict(tmp=tmp_path, checkpoint=checkpoint)
    message = _problems(*(o.format(**fill) for o in overrides))
    for part in expected:
        assert part.format(**fill) in message, message


@pytest.mark.parametrize(
    "text, expected",
    [("task: [\n", "is not valid YAML (while parsing a flow node"), ("- seed\n", "holds a list, not a mapping"), ("", "is empty")],
    ids=["not_yaml", "a_list", "empty"],
)
def test_resume_of_a_run_whose_config_yaml_cannot_be_read(tmp_path, text, expected):
    """A hand-edited or truncated config.yaml: one line naming the file, before any work."""
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.yaml").write_text(text)
    message = _problems(f"++resume='{tmp_path}'")
    assert f"resume='{tmp_path}': {tmp_path / 'config.yaml'} {expected}" in message, message


# Values the schema's types refuse: (key, value on the command line, value in a saved
# config.yaml, what the one line says). Hydra refuses them while it composes, and
# explain_compose_error names the key and what it takes; validate_config refuses them in a run's
# saved config.yaml, which no schema composed.
BAD_TYPES = {
    "string_count": ("train.eval_episodes", "ten", "ten", "positive integer"),
    "float_count": ("train.utd_ratio", "2.5", 2.5, "positive integer"),
    "bool_count": ("agent.num_critics", "true", True, "positive integer"),
    "string_flag": ("algo.warmup", "maybe", "maybe", "true or false"),
    "stop_score_string": ("train.stop_score", "high", "high", "null or a finite number"),
    "gamma_string": ("agent.gamma", "x", "x", "a number in (0, 1)"),
    "checkpoint_online_every_float": ("checkpoint.online_every", "0.5", 0.5, "null or a positive integer"),
    "widths_not_a_list": ("network.locomotion.critic_hidden", "256", 256, "non-empty list of positive integers"),
}


@pytest.mark.parametrize("case", list(BAD_TYPES))
def test_a_value_of_the_wrong_type_is_refused_while_composing(case):
    key, value, _, expected = BAD_TYPES[case]
    with pytest.raises(Exception) as info:
        _compose(f"{key}={value}")
    line = explain_compose_error(info.value)
    assert line.startswith(f"{key}={value}: must be ") and expected in line, line


@pytest.mark.parametrize("case", list(BAD_TYPES))
def test_a_saved_config_with_a_value_of_the_wrong_type_is_refused(case):
    key, _, value, expected = BAD_TYPES[case]
    cfg = OmegaConf.create(OmegaConf.to_container(_compose()))
    OmegaConf.update(cfg, key, value)
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    assert len(info.value.problems) == 1, info.value.problems
    assert info.value.problems[0].startswith(f"{key}=") and expected in info.value.problems[0]


@pytest.mark.parametrize(
    "override, line",
    [
        ("train.online_step=100", "train.online_step: not a key of the run config; closest: train.online_steps"),
        ("agent.gama=0.9", "agent.gama: not a key of the run config; closest: agent.gamma"),
        ("task=hoper-medium", "task=hoper-medium: no such task; closest: hopper-medium, hopper-medium-replay, hopper-medium-expert"),
        ("algo=wrsl", "algo=wrsl: no such algo; closest: wsrl, rlpd"),
        ("profile=smok", "profile=smok: no such profile; closest: smoke"),
        ("+network.locomtion.critic_hidden=[8]", "network.locomtion: not a domain; closest: locomotion (domains: "
         "locomotion, antmaze, kitchen, adroit, pointmaze)"),
    ],
)
def test_an_unknown_key_or_option_is_one_line_with_the_closest(override, line):
    with pytest.raises(Exception) as info:
        _compose(override)
    assert explain_compose_error(info.value) == line


@pytest.mark.parametrize(
    "override, line",
    [
        ("+train.online_step=100", "train.online_step: not a key of the run config; closest: train.online_steps"),
        ("+agent.polyak=0.1", "agent.polyak: not a key of the run config"),
    ],
)
def test_a_key_appended_with_plus_is_refused_if_the_schema_lacks_it(override, line):
    """hydra appends ``+key=value`` whatever the schema says; the validation refuses it."""
    with pytest.raises(ConfigError) as info:
        validate_config(_compose(override))
    assert info.value.problems[0].startswith(line), info.value.problems


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda():
    message = _problems("device=cuda")
    assert "device='cuda'" in message and "CUDA is not available" in message


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_mps_without_mps():
    assert "device='mps': MPS is not available" in _problems("device=mps")


def test_cuda_index_beyond_the_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    validate_config(_compose("device=cuda:0", "update_step.cudagraphs=true"))
    assert "device='cuda:3': this machine has 1 CUDA device(s)" in _problems("device=cuda:3")


def test_cuda_only_settings_on_the_cpu_are_refused(monkeypatch):
    """The Triton critic and TF32 on the CPU would run eager float32 under their names."""
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    message = _problems("device=cpu", "critic.backend=triton", "critic.precision=tf32")
    assert "critic.backend='triton': runs its kernels on a CUDA device, got device='cpu'" in message
    assert "critic.precision='tf32': is a mode of CUDA float32 matmuls" in message
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # the kernels on the CPU, as the tests run them
    validate_config(_compose("device=cpu", "critic.backend=triton"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("TRITON_INTERPRET")
    validate_config(_compose("device=cuda", "critic.backend=triton", "critic.precision=tf32"))


@pytest.mark.parametrize(
    "overrides, module, expected",
    [
        (["critic.backend=triton"], "triton", "critic.backend='triton': needs Triton"),
        (["++logger=tensorboard"], "tensorboard", "logger='tensorboard': needs the tensorboard package"),
        (["++logger=wandb"], "wandb", "logger='wandb': needs the wandb package"),
    ],
)
def test_optional_packages_must_import(monkeypatch, overrides, module, expected):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    assert expected in _problems(*overrides)


def test_run_management_keys_that_are_valid(tmp_path):
    (tmp_path / "config.yaml").write_text("seed: 0\n")  # a run's config.yaml (its keys are checked once it is read)
    (tmp_path / "checkpoints").mkdir()
    validate_config(_compose(
        "++checkpoint.pretrain_every=1000", "++checkpoint.online_every=500", "++checkpoint.keep_last=2",
        "++logger=csv", f"++resume='{tmp_path}'",
    ))


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        validate_config(_compose("train.utd_ratio=3", "train.batch_size=0", "agent.gamma=1.0", "device=bogus"))
    problems = info.value.problems
    assert len(problems) == 4, problems
    lines = str(info.value).splitlines()[1:]
    assert lines == problems
    for key in ("train.utd_ratio=3", "train.batch_size=0", "agent.gamma=1.0", "device='bogus'"):
        assert sum(line.startswith(key) for line in lines) == 1, lines
    assert isinstance(info.value, ValueError)


def test_missing_keys_are_reported_not_raised():
    """A run's saved config.yaml (plain, not under the schema) may lack keys."""
    cfg = OmegaConf.create(OmegaConf.to_container(_compose()))
    with open_dict(cfg):
        del cfg.train["eval_every"]
        del cfg["algo"]
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    message = str(info.value)
    assert "train.eval_every: missing" in message
    assert "algo.pretrain: missing" in message and "algo.offline_ratio: missing" in message


def test_a_config_without_network_sizes_is_reported_once():
    """The config.yaml of a run started before the network group existed has none."""
    cfg = OmegaConf.create(OmegaConf.to_container(_compose()))
    with open_dict(cfg):
        del cfg["network"]
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    assert info.value.problems == ["network: missing from the config"]


def test_interpolation_errors_are_reported_not_raised():
    cfg = _compose()
    OmegaConf.update(cfg, "train.pretrain_steps", "${task.no_such_key}")
    OmegaConf.update(cfg, "runs_root", "${no_such_key}")
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    message = str(info.value)
    assert "train.pretrain_steps: does not resolve" in message
    assert "runs_root: does not resolve" in message  # a key no check reads
    assert message.count("train.pretrain_steps: does not resolve") == 1

"""The command line refuses bad runs before hydra writes anything, and never rewrites a run."""
import os
import signal
import subprocess
import sys
import time

from omegaconf import OmegaConf



def train(*overrides):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torchrl_wsrl.train", *overrides], capture_output=True, text=True, env=env, timeout=300)


def test_a_config_refused_at_validation_leaves_no_directory(tmp_path):
    run_dir = tmp_path / "run"
    out = train("profile=smoke", "train.eval_episodes=0", "train.utd_ratio=3", "device=cuda:7", f"hydra.run.dir={run_dir}")
    assert out.returncode != 0
    for line in ("train.eval_episodes=0", "train.utd_ratio=3: must divide", "device='cuda:7'"):
        assert line in out.stderr
    assert "Traceback" not in out.stderr
    assert not run_dir.exists() and list(tmp_path.iterdir()) == []


def test_an_abstract_task_is_named(tmp_path):
    out = train("task=_locomotion", f"runs_root={tmp_path}")
    assert out.returncode != 0 and "task=_locomotion names no task" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_hydra_flags_see_the_registered_tasks():
    """Hydra's own flags (--cfg, --help) skip preflight: hydra.main itself stores the task group
    (a task of the registry, the network entry of its domain in profile=default's option: the paper's)."""
    out = train("task=pen-binary", "--cfg", "job", "-p", "network.adroit")
    assert out.returncode == 0, out.stderr
    assert OmegaConf.to_container(OmegaConf.create(out.stdout)) == {"critic_hidden": [512] * 3, "actor_hidden": [512] * 2}


def test_an_existing_run_directory_is_left_as_it_is(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- seed=3\n")
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    out = train("profile=smoke", f"hydra.run.dir={run_dir}")
    assert out.returncode != 0 and "exists" in out.stderr
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before
    assert (run_dir / ".hydra" / "overrides.yaml").read_text() == "- seed=3\n"


def test_a_checkpoint_that_does_not_fit_removes_the_directory_hydra_made(tmp_path):
    bad = tmp_path / "pretrained.pt"
    bad.write_bytes(os.urandom(4096))
    run_dir = tmp_path / "run"
    out = train("profile=smoke", f"pretrained_checkpoint={bad}", f"hydra.run.dir={run_dir}")
    assert out.returncode != 0 and f"{bad}: not a readable checkpoint" in out.stderr
    assert "Traceback" not in out.stderr
    assert not run_dir.exists()


def test_a_refused_run_in_the_default_layout_leaves_no_empty_directories(tmp_path):
    """hydra makes runs/<task>/<algo>/<time>_seed<seed>; a run refused for its dataset removes
    every directory made for it, and none that existed before."""
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"not hdf5")
    kept = tmp_path / "runs" / "hopper-medium"   # made before the run (empty): stays
    kept.mkdir(parents=True)
    out = train("profile=smoke", "task=hopper-medium", f"dataset_path={bad}", f"runs_root={tmp_path / 'runs'}")
    assert out.returncode != 0 and f"DatasetError: {bad}: cannot be opened as an HDF5 file" in out.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["bad.hdf5", "runs", "runs/hopper-medium"]


def test_divergence_exits_non_zero_naming_phase_and_step(tmp_path):
    run_dir = tmp_path / "run"
    out = train("profile=smoke", "train.lr_critic=1e3", f"hydra.run.dir={run_dir}")
    assert out.returncode == 1
    assert "DivergenceError: divergence in pretrain at or before gradient step" in out.stderr and "Traceback" not in out.stderr
    assert not (run_dir / "summary.json").exists()


def test_resume_takes_no_other_override(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("seed: 0\n")
    out = train(f"resume={run_dir}", "seed=3")
    assert out.returncode != 0 and "takes no other override" in out.stderr and "seed=3" in out.stderr
    out = train(f"resume={tmp_path / 'nowhere'}")
    assert out.returncode != 0 and "no such run directory" in out.stderr


def test_a_finished_run_is_not_resumed(tmp_path):
    """resume= of a finished run would run its last stretch again over its records: refused,
    pointing at its agent file, and the run directory is left as it is."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / "checkpoint-000000000400").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("seed: 0\n")
    (run_dir / "summary.json").write_text("{}")
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    out = train(f"resume={run_dir}")
    assert out.returncode != 0 and "the run has finished (summary.json)" in out.stderr
    assert f"pretrained_checkpoint={run_dir / 'final.pt'}" in out.stderr and "Traceback" not in out.stderr
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


def test_a_sweep_job_refused_at_validation_leaves_no_job_directory(tmp_path):
    sweep = tmp_path / "sweep"
    out = train("-m", "profile=smoke", "train.eval_episodes=0", f"hydra.sweep.dir={sweep}")
    assert out.returncode != 0 and "train.eval_episodes=0" in out.stderr
    assert [p.name for p in sweep.iterdir()] == ["multirun.yaml"]  # hydra's record of the sweep only


def test_an_existing_sweep_directory_is_refused(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    out = train("-m", "profile=smoke", "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert out.returncode != 0 and "exists" in out.stderr
    assert list(sweep.iterdir()) == []


def test_ctrl_c_exits_with_the_command_that_goes_on(tmp_path):
    """SIGINT during a run (here after its first run checkpoint): exit code 130, no traceback,
    the resume command (``resume=`` itself: tests/test_resume.py)."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "torchrl_wsrl.train", "profile=smoke", "threads=1", f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 240
    while not list((run_dir / "checkpoints").glob("checkpoint-*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted (Ctrl-C)" in stderr and f"wsrl-train resume={run_dir}" in stderr and "Traceback" not in stderr
    assert not (run_dir / "summary.json").exists()


def test_an_interrupt_in_a_critic_call_is_recognised():
    """tensordict's ``to_module`` context turns a KeyboardInterrupt inside it into a
    RuntimeError; the command still reports it as Ctrl-C, and only it."""
    import torch
    from tensordict import TensorDict

    from torchrl_wsrl.cli.interrupt import interrupted

    module = torch.nn.Linear(2, 2)
    params = TensorDict.from_module(module)
    try:
        with params.to_module(module):
            raise KeyboardInterrupt
    except BaseException as err:  # noqa: BLE001  the error the interrupt became
        masked = err
    assert interrupted(masked)  # a RuntimeError with tensordict 0.14, the KeyboardInterrupt once fixed
    assert interrupted(KeyboardInterrupt()) and not interrupted(RuntimeError("shape mismatch"))

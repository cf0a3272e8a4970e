"""wsrl-compare: one pre-training per seed, every algorithm fine-tuned from it."""
import signal
import threading
import time
from pathlib import Path

import pytest
from hydra.errors import HydraException

from test_algos import _tiny_hopper_dataset

from torchrl_wsrl.cli.compare import _interrupted_message, _run_all, check_jobs, main, plan
from torchrl_wsrl.report import find_runs


@pytest.fixture
def tiny_hopper_dataset(tmp_path):
    return _tiny_hopper_dataset(tmp_path / "hopper.hdf5")


def test_plan_starts_every_pretraining_algo_from_its_seeds_checkpoint(tmp_path):
    pretrain, finetune = plan("hopper-medium", [0, 1], ["wsrl", "calql_online", "rlpd"], ["profile=smoke"], tmp_path)
    assert [run_dir for _, run_dir in pretrain] == [tmp_path / "pretrain" / "seed0", tmp_path / "pretrain" / "seed1"]
    assert all("train.online_steps=0" in overrides for overrides, _ in pretrain)
    by_dir = {run_dir.relative_to(tmp_path).as_posix(): overrides for overrides, run_dir in finetune}
    assert sorted(by_dir) == ["calql_online/seed0", "calql_online/seed1", "rlpd/seed0", "rlpd/seed1", "wsrl/seed0", "wsrl/seed1"]
    for name, overrides in by_dir.items():
        algo, seed = name.split("/")
        starts = [o for o in overrides if o.startswith("pretrained_checkpoint=")]
        expected = [] if algo == "rlpd" else [f"pretrained_checkpoint={tmp_path / 'pretrain' / seed / 'pretrained.pt'}"]
        assert starts == expected
        assert f"seed={seed.removeprefix('seed')}" in overrides and "profile=smoke" in overrides
    with pytest.raises(HydraException, match="no_such_algo"):
        plan("hopper-medium", [0], ["no_such_algo"], [], tmp_path)


def test_plan_starts_every_seed_from_the_shipped_agent_where_one_ships(tmp_path):
    pretrain, finetune = plan("halfcheetah-medium-replay", [0, 1], ["wsrl", "wsrl_no_warmup", "rlpd"], [], tmp_path)
    assert pretrain == []
    assert len(finetune) == 6 and not any(o.startswith("pretrained_checkpoint=") for overrides, _ in finetune for o in overrides)
    pretrain, _ = plan("halfcheetah-medium-replay", [0], ["wsrl"], ["pretrained=none"], tmp_path)
    assert [run_dir for _, run_dir in pretrain] == [tmp_path / "pretrain" / "seed0"]


def test_compare_end_to_end(tmp_path, tiny_hopper_dataset):
    out = tmp_path / "report"
    overrides = [
        "profile=smoke", f"dataset_path={tiny_hopper_dataset}", "train.pretrain_steps=10", "train.bc_steps=5",
        "train.pretrain_eval_every=10", "train.online_steps=40", "train.warmup_steps=10", "train.eval_every=20",
        "train.eval_episodes=1", "train.online_batch_size=16", "network.locomotion.critic_hidden=[8]", "network.locomotion.actor_hidden=[8]",
        "agent.num_critics=2",
    ]
    main(["--seeds", "2", "--algos", "wsrl,wsrl_no_warmup", "--jobs", "1", "--out", str(out),
          "--runs-root", str(tmp_path / "runs"), *overrides])
    for name in ("scores.md", "score_curves.png", "q_diagnostics.png", "command.md"):
        assert (out / name).is_file(), name
    runs = find_runs([out / "runs"])
    assert sorted((r.algo, r.seed) for r in runs) == [("wsrl", 0), ("wsrl", 1), ("wsrl_no_warmup", 0), ("wsrl_no_warmup", 1)]
    # Both algorithms of a seed start from the same pre-trained policy: the same first score.
    for seed in (0, 1):
        first = {r.algo: r.after_pretraining for r in runs if r.seed == seed}
        assert first["wsrl"] == first["wsrl_no_warmup"]
    assert "dip" in (out / "scores.md").read_text()
    assert "wsrl-compare --seeds 2" in (out / "command.md").read_text()
    with pytest.raises(SystemExit):  # never over an existing report
        main(["--seeds", "1", "--out", str(out), *overrides])


def test_every_job_is_validated_before_any_run(tmp_path, capsys):
    """A bad override is refused once, before the pre-training, though it concerns every job;
    the seeds' pre-trained.pt, not there yet, is no problem."""
    with pytest.raises(SystemExit):
        main(["--task", "hopper-medium", "--seeds", "2", "--algos", "wsrl,rlpd", "--out", str(tmp_path / "report"),
              "--runs-root", str(tmp_path / "runs"), "profile=smoke", "train.utd_ratio=3"])
    err = capsys.readouterr().err
    assert "invalid run config (1 problem)" in err and "train.utd_ratio=3: must divide" in err
    assert list(tmp_path.iterdir()) == []
    pretrain, finetune = plan("hopper-medium", [0, 1], ["wsrl", "rlpd"], ["profile=smoke"], tmp_path)
    check_jobs([*pretrain, *finetune], tmp_path)  # valid as it is


@pytest.mark.parametrize(
    "argv, line",
    [
        (["--task", "hoper-medium"], "task=hoper-medium: no such task; closest: hopper-medium"),
        (["--algos", "wsrl,wsrl_no_warmp"], "algo=wsrl_no_warmp: no such algo; closest: wsrl_no_warmup"),
        (["train.online_step=5"], "train.online_step: not a key of the run config; closest: train.online_steps"),
    ],
)
def test_an_unknown_name_is_one_line_with_the_closest(tmp_path, capsys, argv, line):
    """A misspelt task, algo or override: the line wsrl-train gives, not hydra's listing, and
    nothing is run or written."""
    with pytest.raises(SystemExit):
        main(["--seeds", "1", "--out", str(tmp_path / "report"), "--runs-root", str(tmp_path / "runs"), *argv])
    assert f"wsrl-compare: error: {line}" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "report").exists()


@pytest.mark.parametrize("flag, value", [("--seeds", "0"), ("--jobs", "-1"), ("--steps", "10,x")])
def test_a_bad_count_is_refused_by_its_flag(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit):
        main([flag, value, "--out", str(tmp_path / "report")])
    assert f"argument {flag}:" in capsys.readouterr().err


def test_a_finished_run_is_one_line_of_scores():
    """What wsrl-compare prints per finished run: scores with their noise, not a dict."""
    from torchrl_wsrl.cli.compare import _scores

    line = _scores({"after_pretraining": 42.14, "after_pretraining_std": 6.1, "after_warmup": None, "final": 10.7, "final_std": 8.4, "wall_times_s": {"total": 535.0}})
    assert line == "after pre-training 42.1 +- 6.1, after warmup n/a, end 10.7 +- 8.4 (8.9 min)"


def _mark_and_sleep(overrides, run_dir):
    """A stand-in run (in a spawned worker): marks that it started, then takes a second."""
    Path(run_dir).mkdir()
    time.sleep(1.0)
    (Path(run_dir) / "summary.json").write_text("{}")
    return {}


def test_ctrl_c_starts_no_further_run(tmp_path):
    """Ctrl-C while the first of four runs is under way (one worker): it ends, no other run
    starts, the interrupt reaches the caller, which names what is left."""
    jobs = [([], tmp_path / f"run{i}") for i in range(4)]

    def interrupt_once_the_first_run_started():
        while not (tmp_path / "run0").exists():
            time.sleep(0.05)
        signal.raise_signal(signal.SIGINT)

    threading.Thread(target=interrupt_once_the_first_run_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        _run_all(jobs, 1, run=_mark_and_sleep)
    assert (tmp_path / "run0" / "summary.json").is_file()  # the run under way went on to its end here
    assert not any((tmp_path / f"run{i}").exists() for i in (1, 2, 3))
    message = _interrupted_message(jobs, tmp_path)
    assert f"no report written; the runs are under {tmp_path}" in message
    assert "3 of the 4 runs have no checkpoint" in message

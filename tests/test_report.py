"""torchrl_wsrl.report on synthetic run directories (metrics.csv + config.yaml, as the trainer
writes them), checked against hand computation."""
import csv
import math

import numpy as np

import pytest

from torchrl_wsrl.cli.report import main
from torchrl_wsrl.report import (
    ReportError, aggregate, bootstrap_ci, dip_table, find_runs, group_runs, mean_se, score_table, write_report,
)
from torchrl_wsrl.metrics import METRIC_COLUMNS

WARMUP = 100
# (phase, env_step, score, q_pred, q_online) of a pre-trained run with a warmup; the scores are
# shifted per seed below. The warmup evaluation and a scheduled one share env step 100.
PRETRAINED_ROWS = [
    ("pretrain", 0, 30.0, 5.0, None),
    ("pretrain", 0, 40.0, 6.0, None),
    ("warmup", 100, 41.0, 6.5, 7.0),
    ("online", 100, 42.0, 6.6, 7.1),
    ("online", 200, 20.0, 9.0, 9.5),
    ("online", 300, 50.0, 8.0, 8.5),
]
# No pre-training, no warmup: the first evaluation is online at env step 100.
SCRATCH_ROWS = [("online", 100, 5.0, 1.0, 1.0), ("online", 200, 7.0, 2.0, 2.0), ("online", 300, 9.0, 3.0, 3.0)]
SEED_SHIFT = {0: 0.0, 1: 10.0, 2: 30.0}


def write_run(run_dir, *, algo, seed, rows, warmup=True, task="hopper-medium", online_steps=300, malformed=None, updates_from=None, finished=True):
    """A run directory as the trainer leaves it: online gradient steps at UTD 4 from env step
    ``updates_from`` (default: the end of the warmup, or 0). ``malformed``: ``(column, value)``
    written into the first row. ``finished``: with the ``summary.json`` of a run that ended."""
    if updates_from is None:
        updates_from = WARMUP if warmup else 0
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(
        f"seed: {seed}\nruns_root: runs\n"
        f"task:\n  name: {task}\n"
        f"algo:\n  name: {algo}\n  warmup: {str(warmup).lower()}\n"
        f"train:\n  warmup_steps: {WARMUP}\n  online_steps: {online_steps}\n"
    )
    with (run_dir / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, METRIC_COLUMNS)
        writer.writeheader()
        for i, (phase, env_step, score, q_pred, q_online) in enumerate(rows):
            row = {
                "phase": phase, "grad_step": 4 * max(env_step - updates_from, 0) if phase == "online" else 0, "env_step": env_step, "wall_time_s": 60.0 * (i + 1),
                "score": score + SEED_SHIFT[seed], "q_pred": q_pred, "q_mc_return": 10.0, "q_online": q_online if q_online is not None else "",
                "q_offline": 4.0,
            }
            if malformed and i == 0:
                row[malformed[0]] = malformed[1]
            writer.writerow(row)
    if finished:
        (run_dir / "summary.json").write_text("{}")
    return run_dir


@pytest.fixture
def sweep(tmp_path):
    """A multirun-like tree: hopper-medium/{wsrl,sac_scratch}/seed{0,1,2}."""
    root = tmp_path / "multirun" / "2026-01-01_00-00-00-000000"
    for seed in SEED_SHIFT:
        write_run(root / "hopper-medium" / "wsrl" / f"seed{seed}", algo="wsrl", seed=seed, rows=PRETRAINED_ROWS)
        write_run(root / "hopper-medium" / "sac_scratch" / f"seed{seed}", algo="sac_scratch", seed=seed, rows=SCRATCH_ROWS, warmup=False)
    return root


def test_finds_runs_recursively_and_groups_by_algorithm(sweep):
    runs = find_runs([sweep])
    assert [(r.algo, r.seed) for r in runs] == [("sac_scratch", s) for s in (0, 1, 2)] + [("wsrl", s) for s in (0, 1, 2)]
    groups = group_runs(runs)
    assert list(groups) == ["sac_scratch", "wsrl"]
    assert {r.warmup_steps for r in groups["wsrl"]} == {WARMUP}
    assert {r.warmup_steps for r in groups["sac_scratch"]} == {0}
    # a run directory (or its metrics.csv) and its parent together still count each run once
    seed0 = sweep / "hopper-medium" / "wsrl" / "seed0"
    assert len(find_runs([sweep, seed0, seed0 / "metrics.csv"])) == 6


def test_labels_carry_the_task_when_runs_span_tasks(tmp_path):
    write_run(tmp_path / "a", algo="wsrl", seed=0, rows=PRETRAINED_ROWS)
    write_run(tmp_path / "b", algo="wsrl", seed=0, rows=PRETRAINED_ROWS, task="walker2d-medium")
    assert list(group_runs(find_runs([tmp_path]))) == ["hopper-medium/wsrl", "walker2d-medium/wsrl"]


def test_mean_and_standard_error_by_hand():
    mean, se, n = mean_se([10.0, 20.0, 40.0, None, math.nan])
    assert n == 3
    assert mean == pytest.approx(70 / 3)
    # sample std: sqrt(((10-m)^2 + (20-m)^2 + (40-m)^2) / 2); s.e. = std / sqrt(3)
    m = 70 / 3
    assert se == pytest.approx(math.sqrt(((10 - m) ** 2 + (20 - m) ** 2 + (40 - m) ** 2) / 2) / math.sqrt(3))
    assert math.isnan(mean_se([5.0])[1])
    assert mean_se([]) == pytest.approx((math.nan, math.nan, 0), nan_ok=True)


def test_timeline_starts_at_the_end_of_pretraining_and_later_rows_win(sweep):
    run = find_runs([sweep / "hopper-medium" / "wsrl" / "seed0"])[0]
    assert run.timeline["score"] == {0: 40.0, 100: 42.0, 200: 20.0, 300: 50.0}
    assert (run.after_pretraining, run.after_warmup, run.final) == (40.0, 41.0, 50.0)
    assert run.score_at(0) == 40.0 and run.score_at(250) == 20.0 and run.score_at(10_000) == 50.0
    scratch = find_runs([sweep / "hopper-medium" / "sac_scratch" / "seed0"])[0]
    assert scratch.score_at(50) is None and scratch.after_pretraining is None and scratch.after_warmup is None


def test_aggregate_skips_unmeasured_points(sweep):
    runs = group_runs(find_runs([sweep]))["wsrl"]
    steps, mean, se = aggregate(runs, "q_online")  # not measured at the end of pre-training
    assert steps.tolist() == [100, 200, 300]
    assert mean.tolist() == pytest.approx([7.1, 9.5, 8.5])
    assert se.tolist() == pytest.approx([0.0, 0.0, 0.0])
    steps, mean, se = aggregate(runs, "score")
    assert steps.tolist() == [0, 100, 200, 300]
    shifts = list(SEED_SHIFT.values())
    assert mean[2] == pytest.approx(20.0 + sum(shifts) / 3)
    assert se[2] == pytest.approx(mean_se(shifts)[1])


def test_table_values(sweep):
    table = score_table(group_runs(find_runs([sweep])), steps=[0, 150])
    lines = table.splitlines()
    assert lines[0] == "| algorithm | n | after pre-training | after warmup | env step 0 | env step 150 | final | wall time (min) |"
    se = mean_se(list(SEED_SHIFT.values()))[1]  # every score is a constant plus the seed's shift
    m = sum(SEED_SHIFT.values()) / 3
    assert lines[2] == f"| sac_scratch | 3 | n/a | n/a | n/a | {5 + m:.1f} ± {se:.1f} | {9 + m:.1f} ± {se:.1f} | 3.0 ± 0.0 |"
    assert lines[3] == (
        f"| wsrl | 3 | {40 + m:.1f} ± {se:.1f} | {41 + m:.1f} ± {se:.1f} | {40 + m:.1f} ± {se:.1f} | "
        f"{42 + m:.1f} ± {se:.1f} | {50 + m:.1f} ± {se:.1f} | 6.0 ± 0.0 |"
    )


def test_a_cell_with_fewer_runs_says_so(tmp_path):
    write_run(tmp_path / "s0", algo="wsrl", seed=0, rows=PRETRAINED_ROWS)
    write_run(tmp_path / "s1", algo="wsrl", seed=1, rows=PRETRAINED_ROWS[:2])  # stopped after pre-training
    row = score_table(group_runs(find_runs([tmp_path])), steps=[]).splitlines()[2]
    assert row.split(" | ")[3] == "41.0 (n=1)"  # after warmup: only seed 0 got there


def test_write_report_writes_pngs_and_table_and_refuses_to_overwrite(sweep, tmp_path, capsys):
    out = tmp_path / "report"
    written = write_report([sweep], out, steps=[200])
    for name in ("score_curves.png", "q_diagnostics.png"):
        assert written[name].read_bytes().startswith(b"\x89PNG")
    assert "| wsrl | 3 |" in written["scores.md"].read_text()
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_report([sweep], out)
    write_report([sweep], out, overwrite=True)
    # default folder: the arguments' common folder; the CLI prints the table
    main([str(sweep), "--steps", "0,200"])
    assert (sweep / "scores.md").is_file()
    assert "| env step 200 |" in capsys.readouterr().out


def test_error_for_a_folder_without_runs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no runs found"):
        find_runs([tmp_path / "empty"])
    with pytest.raises(ReportError, match="no such file"):
        find_runs([tmp_path / "missing"])


@pytest.mark.parametrize(
    ("malformed", "message"),
    [(("score", "high"), r"line 2, column 'score': 'high' is not a number"), (("phase", "offline"), r"line 2, column 'phase'")],
)
def test_error_names_the_file_line_and_column(tmp_path, malformed, message):
    run = write_run(tmp_path / "run", algo="wsrl", seed=0, rows=PRETRAINED_ROWS, malformed=malformed)
    with pytest.raises(ReportError, match=message) as error:
        find_runs([tmp_path])
    assert str(run / "metrics.csv") in str(error.value)


def test_error_for_a_missing_column_or_a_missing_or_malformed_config(tmp_path):
    run = write_run(tmp_path / "run", algo="wsrl", seed=0, rows=PRETRAINED_ROWS)
    text = (run / "metrics.csv").read_text()
    (run / "metrics.csv").write_text(text.replace("q_online", "q_live", 1))
    with pytest.raises(ReportError, match=r"metrics.csv: missing column\(s\) \['q_online'\]"):
        find_runs([run])
    (run / "config.yaml").write_text("algo: [wsrl\n")
    with pytest.raises(ReportError, match=r"config.yaml: not valid YAML \(while parsing"):
        find_runs([run])
    (run / "config.yaml").write_text("- wsrl\n")
    with pytest.raises(ReportError, match="config.yaml: holds a list, not a mapping"):
        find_runs([run])
    (run / "config.yaml").unlink()
    with pytest.raises(ReportError, match="no config.yaml"):
        find_runs([run])


def test_duplicate_seeds_and_config_differences(tmp_path):
    write_run(tmp_path / "a", algo="wsrl", seed=0, rows=PRETRAINED_ROWS)
    write_run(tmp_path / "b", algo="wsrl", seed=0, rows=PRETRAINED_ROWS)
    with pytest.raises(ReportError, match="two runs of hopper-medium / wsrl / seed 0"):
        find_runs([tmp_path])
    # a setting that differs within one algorithm is a swept setting: one group per value
    (tmp_path / "b" / "config.yaml").write_text((tmp_path / "b" / "config.yaml").read_text().replace("online_steps: 300", "online_steps: 600"))
    groups = group_runs(find_runs([tmp_path]))
    assert {label: [r.path.name for r in runs] for label, runs in groups.items()} == {
        "wsrl train.online_steps=300": ["a"], "wsrl train.online_steps=600": ["b"],
    }
    # each seed's own pre-trained file (compare's layout) is not a difference of the experiment
    for name, seed in (("a", 0), ("b", 1)):
        config = tmp_path / name / "config.yaml"
        config.write_text(config.read_text().replace("online_steps: 600", "online_steps: 300").replace("seed: 0", f"seed: {seed}") + f"pretrained_checkpoint: pretrain/seed{seed}/pretrained.pt\n")
    assert list(group_runs(find_runs([tmp_path]))) == ["wsrl"]


def test_a_sweep_over_a_setting_is_reported_one_row_per_setting(tmp_path):
    """Two settings x two seeds of one algorithm (a hydra sweep ``-m seed=0,1
    critic.head=per_critic,shared``): one group, and one table row, per setting; algorithms
    that differ in what they set themselves stay one group each."""
    for head in ("per_critic", "shared"):
        for seed in (0, 1):
            run = write_run(tmp_path / f"{head}{seed}", algo="wsrl", seed=seed, rows=PRETRAINED_ROWS)
            (run / "config.yaml").write_text((run / "config.yaml").read_text() + f"critic:\n  head: {head}\n")
    groups = group_runs(find_runs([tmp_path]))
    assert {label: sorted(r.seed for r in runs) for label, runs in groups.items()} == {
        "wsrl critic.head=per_critic": [0, 1], "wsrl critic.head=shared": [0, 1],
    }
    rows = [line for line in score_table(groups).splitlines() if line.startswith("| wsrl")]
    assert [row.split("|")[1].strip() for row in rows] == ["wsrl critic.head=per_critic", "wsrl critic.head=shared"]
    with pytest.raises(ReportError, match="two runs of hopper-medium / wsrl / critic.head=shared / seed 1"):
        write_run(tmp_path / "again", algo="wsrl", seed=1, rows=PRETRAINED_ROWS)
        (tmp_path / "again" / "config.yaml").write_text((tmp_path / "again" / "config.yaml").read_text() + "critic:\n  head: shared\n")
        find_runs([tmp_path])


def test_cli_exits_with_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path)])
    assert exit_.value.code == 2
    assert "no runs found" in capsys.readouterr().err


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    values = [10.0, 20.0, 40.0, 35.0, 12.0]
    low, high = bootstrap_ci(values)
    assert min(values) <= low < np.mean(values) < high <= max(values)
    assert bootstrap_ci(values) == (low, high)
    assert bootstrap_ci([3.0, 3.0, None]) == (3.0, 3.0)
    assert all(math.isnan(v) for v in bootstrap_ci([5.0, math.nan]))


def test_dip_is_the_min_over_the_first_fifth_of_the_online_updates(tmp_path):
    for seed in SEED_SHIFT:
        write_run(tmp_path / f"seed{seed}", algo="wsrl", seed=seed, rows=PRETRAINED_ROWS, online_steps=600)
    runs = find_runs([tmp_path])
    # updates start after the 100-step warmup: (100, 100 + 0.2 * 500] = (100, 200] holds only 20;
    # the evaluations at env step 100 (before any update) and 300 are out.
    assert [r.dip() for r in runs] == [20.0 + SEED_SHIFT[r.seed] for r in runs]
    assert runs[0].dip(fraction=0.1) is None  # (100, 150]: no evaluation
    assert runs[0].dip(fraction=0.4) == 20.0  # (100, 300]: 20 and 50
    # without a warmup the updates start at env step 0: (0, 0.2 * 1000] holds 5 and 7
    scratch = find_runs([write_run(tmp_path / "scratch", algo="sac_scratch", seed=0, rows=SCRATCH_ROWS, warmup=False, online_steps=1000)])
    assert scratch[0].dip() == 5.0
    # no warmup, but no update before env step 200 (calql_online fills its first batch with
    # whole episodes): (200, 200 + 0.2 * 1000] holds 9 only
    late = find_runs([write_run(tmp_path / "late", algo="calql_online", seed=0, rows=SCRATCH_ROWS, warmup=False, online_steps=1200, updates_from=200)])
    assert (late[0].updates_from, late[0].dip()) == (200, 9.0)
    row = dip_table(group_runs(runs)).splitlines()[2]
    m = np.mean(list(SEED_SHIFT.values()))
    # the score before the first update: the last evaluation at env step 100 (42, after the warmup's 41)
    assert row.startswith(f"| wsrl | 3 | {42 + m:.1f} [") and f"| {20 + m:.1f} [" in row


def test_an_interval_from_fewer_than_three_seeds_is_marked(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path / f"seed{seed}", algo="wsrl", seed=seed, rows=PRETRAINED_ROWS, online_steps=600)
    table = dip_table(group_runs(find_runs([tmp_path])))
    assert table.splitlines()[2].count("]†") == 3 and "fewer than 3 seeds" in table
    write_run(tmp_path / "seed2", algo="wsrl", seed=2, rows=PRETRAINED_ROWS, online_steps=600)
    table = dip_table(group_runs(find_runs([tmp_path])))
    assert "†" not in table


def test_iqm_is_the_mean_of_the_middle_half_by_hand():
    from torchrl_wsrl.report import iqm

    assert iqm([1.0, 2.0, 3.0, 4.0, 100.0, -50.0, 5.0, 6.0]) == pytest.approx(np.mean([2.0, 3.0, 4.0, 5.0]))
    assert iqm([7.0]) == 7.0


def test_the_stratified_bootstrap_redraws_within_each_task():
    """Two tasks on very different scales: every resample keeps two runs of each task, so the
    pooled mean never leaves the band that mixing within tasks allows; the interval is seeded."""
    from torchrl_wsrl.report import stratified_bootstrap_ci

    low_task, high_task = np.array([0.0, 2.0]), np.array([100.0, 102.0])
    low, high = stratified_bootstrap_ci([low_task, high_task], np.mean)
    assert 50.0 <= low <= high <= 52.0  # an unstratified resample could reach 0 or 102
    assert stratified_bootstrap_ci([low_task, high_task], np.mean) == (low, high)
    assert all(math.isnan(v) for v in stratified_bootstrap_ci([np.array([3.0])], np.mean))


def test_the_performance_profile_is_the_fraction_of_runs_above_each_threshold():
    from torchrl_wsrl.report import performance_profile

    np.testing.assert_allclose(performance_profile([10.0, 20.0, 30.0, 40.0], [0.0, 15.0, 35.0, 40.0]), [1.0, 0.75, 0.25, 0.0])


def test_a_two_setting_two_seed_sweep_reports_one_iqm_row_per_setting(tmp_path):
    for head in ("per_critic", "shared"):
        for seed in (0, 1):
            run = write_run(tmp_path / "runs" / f"{head}{seed}", algo="wsrl", seed=seed, rows=PRETRAINED_ROWS)
            (run / "config.yaml").write_text((run / "config.yaml").read_text() + f"critic:\n  head: {head}\n")
    paths = write_report([tmp_path / "runs"], tmp_path / "report")
    assert paths["performance_profile.png"].is_file()
    text = paths["scores.md"].read_text()
    section = text.split("interquartile mean")[1].split("The dip")[0]
    iqm_rows = [line for line in section.splitlines() if line.startswith("| wsrl")]
    # final scores 50 (seed 0) and 60 (seed 1): IQM of two values is their mean; 2 seeds: marked
    assert iqm_rows == [
        "| wsrl critic.head=per_critic | 2 | 55.0 [50.0, 60.0]† | 55.0 |",
        "| wsrl critic.head=shared | 2 | 55.0 [50.0, 60.0]† | 55.0 |",
    ]
    assert "† from fewer than 3 runs per task" in text


def test_an_unfinished_run_is_marked_and_counts_only_where_it_got(tmp_path):
    """A run without summary.json (killed at env step 200 of 300): its last evaluation stands
    as its "final", marked, and it is left out at env steps it has not reached."""
    root = tmp_path / "runs"
    for seed in SEED_SHIFT:
        rows = PRETRAINED_ROWS[:5] if seed == 2 else PRETRAINED_ROWS
        write_run(root / f"seed{seed}", algo="wsrl", seed=seed, rows=rows, finished=seed != 2)
    runs = find_runs([root])
    assert [r.finished for r in runs] == [True, True, False] and runs[2].last_env_step == 200
    assert runs[2].score_at(200) == 20.0 + 30.0 and runs[2].score_at(300) is None
    table = score_table(group_runs(runs), [200, 300])
    # env step 300: seeds 0 and 1 only, 50 and 60.
    assert "| wsrl | 3 (1 unfinished) | " in table and "| 55.0 ± 5.0 (n=2) |" in table
    scores = write_report([root], tmp_path / "report")["scores.md"].read_text()
    assert "**1 of 3 runs has not finished**" in scores
    assert "runs/seed2: last evaluation at 200 of 300 env steps" in scores

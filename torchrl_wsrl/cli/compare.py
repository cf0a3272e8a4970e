"""``wsrl-compare``: the paper's comparison in one command: pre-train once per seed (or take the
task's shipped agent), fine-tune every algorithm from that same agent, then write the report.

    wsrl-compare --task hopper-medium --seeds 5 --jobs 2 \\
        --out docs/results/hopper-medium [hydra overrides, e.g. profile=compare]

1. One pre-training run per seed (``train.online_steps=0``) writes ``pretrained.pt``; none
   where the runs start from an agent file already: the task's shipped agent
   (``pretrained=auto``, the default, where the package ships one) or ``pretrained_checkpoint=``.
2. Each of ``--algos`` that pre-trains (``wsrl``, ``wsrl_no_warmup``, ``calql_online``,
   ``wsrl_policy_only``, ...) starts from its seed's ``pretrained.pt``
   (``pretrained_checkpoint=``), so the algorithms differ only in what they do online; those
   that do not (``rlpd``, ``sac_scratch``) start from scratch with the same seed.
3. :func:`torchrl_wsrl.report.write_report` turns the runs into ``scores.md``,
   ``score_curves.png`` and ``q_diagnostics.png`` in ``--out``, next to ``command.md`` (the
   command, the commit, the wall time) and a copy of each run's ``config.yaml`` and
   ``metrics.csv`` under ``--out/runs/`` (the report can be rebuilt from them; checkpoints stay
   in ``--runs-root``).

Runs go to ``--runs-root/<task>/<time>/{pretrain,<algo>}/seed<k>/``, ``--jobs`` at a time,
each on one thread (give ``--jobs`` at most the free cores). Every job's run config is
validated before the first run starts. Nothing existing is overwritten: ``--out`` must not
hold a report yet. Ctrl-C starts no further run, and lists the runs that go on with
``wsrl-train resume=RUN_DIR`` (exit code 130).
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

from hydra.errors import HydraException

from torchrl_wsrl.checkpoint import latest_run_checkpoint
from torchrl_wsrl.cli.args import int_list, positive_int
from torchrl_wsrl.cli.interrupt import INTERRUPTED_EXIT_CODE
from torchrl_wsrl.conf import compose_config
from torchrl_wsrl.conf.plan import RunPlan
from torchrl_wsrl.report import REPORT_FILES, write_report
from torchrl_wsrl.validation import ConfigError, explain_compose_error, validate_config

DEFAULT_ALGOS = ("wsrl", "wsrl_no_warmup", "calql_online", "wsrl_policy_only", "rlpd")


def run_one(overrides: list[str], run_dir: str) -> dict:
    """One training run into ``run_dir`` on one thread; returns its summary as a dict (runs in
    a worker process)."""
    from torchrl_wsrl.runtime import configure_torch
    from torchrl_wsrl.training import Trainer

    cfg = compose_config([*overrides, "threads=1"])
    configure_torch(cfg)
    return Trainer(cfg, Path(run_dir)).run().__dict__


def plan(task: str, seeds: list[int], algos: list[str], overrides: list[str], root: Path):
    """``(pre-training jobs, fine-tuning jobs)``, each a list of ``(overrides, run_dir)``.

    Raises:
        hydra.errors.HydraException: an unknown algorithm, task or override.
    """
    pretrain, finetune = [], []
    for seed in seeds:
        common = [f"task={task}", f"seed={seed}", *overrides]
        # The shipped agent (pretrained=auto|shipped) or a given pretrained_checkpoint is every
        # seed's start; else each seed pre-trains its own.
        given = RunPlan.of(compose_config([*common, "algo=wsrl"])).agent_file is not None
        pretrained = root / "pretrain" / f"seed{seed}"
        if not given:
            pretrain.append(([*common, "algo=wsrl", "pretrained=none", "train.online_steps=0"], pretrained))
        for algo in algos:
            algo_cfg = compose_config([*common, f"algo={algo}"]).algo
            start = [f"pretrained_checkpoint={pretrained / 'pretrained.pt'}"] if algo_cfg.pretrain and not given else []
            if algo_cfg.pretrain and algo_cfg.offline_ratio == 0 and not given:  # reads no data: no dataset_path
                start.append("dataset_path=null")
            finetune.append(([*common, f"algo={algo}", *start], root / algo / f"seed{seed}"))
    return pretrain, finetune


def check_jobs(jobs: list, root: Path) -> None:
    """Validate every job's run config before any run starts (a bad override would otherwise
    surface in a worker after the pre-training). A fine-tuning job's start, the
    ``pretrained.pt`` its seed's pre-training writes under ``root``, is not there yet: its
    config is checked without it.

    Raises:
        ConfigError: every distinct problem of every job, one line each.
    """
    made_here = f"pretrained_checkpoint={root}"
    problems = []
    for overrides, _ in jobs:
        try:
            validate_config(compose_config([o for o in overrides if not o.startswith(made_here)]))
        except ConfigError as error:
            problems += [p for p in error.problems if p not in problems]
    if problems:
        raise ConfigError(problems)


def _run_all(jobs: list, workers: int, run=run_one) -> None:
    """``run(overrides, run_dir)`` of every job, ``workers`` at a time, each worker a fresh
    interpreter (spawn: no forked torch / MuJoCo state). A job is handed to the pool only when
    a worker is free, so that after Ctrl-C no further run starts: the command ends once the
    runs under way have stopped (they get the interrupt too).

    Raises:
        KeyboardInterrupt: Ctrl-C. Any error of a run, as it raised it.
    """
    queue = list(jobs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        running = {}
        while queue or running:
            while queue and len(running) < workers:
                overrides, run_dir = queue.pop(0)
                running[pool.submit(run, overrides, str(run_dir))] = run_dir
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                print(f"done {running.pop(future)}: {_scores(future.result())}", flush=True)


def _interrupted_message(jobs: list, root: Path) -> str:
    """What Ctrl-C left: the runs that go on from a run checkpoint, and where the runs are."""
    unfinished = [run_dir for _, run_dir in jobs if not (run_dir / "summary.json").exists()]
    resumable = [run_dir for run_dir in unfinished if latest_run_checkpoint(run_dir) is not None]
    lines = [f"interrupted (Ctrl-C): no report written; the runs are under {root}."]
    if resumable:
        lines += ["These go on from their latest run checkpoint:", *(f"  wsrl-train resume={d}" for d in resumable)]
    lines.append(f"{len(unfinished) - len(resumable)} of the {len(jobs)} runs have no checkpoint (not started, or stopped before their first).")
    return "\n".join(lines)


def _scores(summary: dict) -> str:
    """A run's scores in one line: after pre-training, after the warmup, at the end (each with
    its evaluation noise), and its wall time."""
    def score(moment):
        value = summary.get(moment)
        return "n/a" if value is None else f"{value:.1f} +- {summary.get(f'{moment}_std') or 0.0:.1f}"

    total = summary.get("wall_times_s", {}).get("total")
    return (
        f"after pre-training {score('after_pretraining')}, after warmup {score('after_warmup')}, "
        f"end {score('final')}" + ("" if total is None else f" ({total / 60:.1f} min)")
    )


def _commit() -> str:
    """The commit of the checkout the package is imported from (whatever the working directory),
    marked where it has uncommitted changes."""
    package = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=package)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=package).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return f"unknown (the package at {package} is not in a git checkout)"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="wsrl-compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="hopper-medium")
    parser.add_argument("--seeds", type=positive_int, default=5, help="seeds 0..N-1 (5)")
    parser.add_argument("--algos", default=",".join(DEFAULT_ALGOS), help="comma-separated algo names")
    parser.add_argument("--jobs", type=positive_int, default=2, help="runs at a time, one thread each (2)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the report")
    parser.add_argument("--runs-root", type=Path, default=Path("runs/compare"))
    parser.add_argument("--steps", type=int_list, default="", help="online env steps for table columns, e.g. 0,300,600")
    parser.add_argument("overrides", nargs="*", help="hydra overrides for every run, e.g. profile=compare")
    args = parser.parse_args(argv)
    algos = [a for a in args.algos.split(",") if a]
    existing = [str(args.out / name) for name in REPORT_FILES if (args.out / name).exists()]
    if existing:
        parser.error(f"{existing} exist already; choose another --out")
    root = args.runs_root / args.task / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    try:
        pretrain, finetune = plan(args.task, list(range(args.seeds)), algos, args.overrides, root)
        check_jobs([*pretrain, *finetune], root)
    except HydraException as error:  # an unknown task, algo or override: one line, with the closest names
        parser.error(explain_compose_error(error))
    except ConfigError as error:
        parser.error(str(error))

    tic = time.perf_counter()
    try:
        _run_all(pretrain, args.jobs)
        _run_all(finetune, args.jobs)
    except KeyboardInterrupt:
        print("\n" + _interrupted_message([*pretrain, *finetune], root), file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
    wall = time.perf_counter() - tic

    copies = args.out / "runs"
    for _, run_dir in finetune:
        target = copies / run_dir.relative_to(root)
        target.mkdir(parents=True, exist_ok=False)
        for name in ("config.yaml", "metrics.csv", "summary.json"):
            shutil.copy2(run_dir / name, target / name)
    write_report([copies], args.out, steps=args.steps)
    command = " ".join(["wsrl-compare", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    (args.out / "command.md").write_text(
        f"# How this report was made\n\n```bash\n{command}\n```\n\n"
        f"- commit: {_commit()}\n- wall time: {wall / 60:.1f} min ({args.jobs} jobs at a time, one thread each)\n"
        f"- runs (with checkpoints): {root}\n"
    )
    print((args.out / "scores.md").read_text())
    return args.out


if __name__ == "__main__":
    main()

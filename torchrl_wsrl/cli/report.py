"""``wsrl-report``: scores, learning curves and Q diagnostics of a set of runs, grouped by
algorithm and by every setting they sweep, over seeds (:mod:`torchrl_wsrl.report`).

    wsrl-report runs/multirun/2026-01-01_12-00-00-000000 --steps 0,1000,2500
    wsrl-report RUN_DIR [RUN_DIR ...] --out report/ [--overwrite]

Writes ``scores.md`` (scores after pre-training, after the warmup, at the given env steps and at
the end; the dip after the first updates), ``score_curves.png`` and ``q_diagnostics.png``.
A run without ``summary.json`` (killed, diverged or still running) is named in ``scores.md``
and counted in each row's ``n``; its "final" is its last evaluation, and it counts at an env
step only once it has reached it.
"""
from __future__ import annotations

import argparse
import sys

from torchrl_wsrl.cli.args import int_list
from torchrl_wsrl.report import ReportError, write_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wsrl-report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="RUN_DIR", help="run directories or folders above them")
    parser.add_argument("--out", help="folder for the report files (default: the paths' common folder)")
    parser.add_argument("--steps", type=int_list, default="", help="comma-separated online env steps for table columns, e.g. 0,1000,5000")
    parser.add_argument("--overwrite", action="store_true", help="replace existing report files")
    args = parser.parse_args(argv)
    try:
        written = write_report(args.paths, args.out, steps=args.steps, overwrite=args.overwrite)
    except (ReportError, FileExistsError) as error:
        parser.exit(2, f"error: {error}\n")
    sys.stdout.write(written["scores.md"].read_text())
    print("\nwrote " + ", ".join(str(p) for p in written.values()))


if __name__ == "__main__":
    main()

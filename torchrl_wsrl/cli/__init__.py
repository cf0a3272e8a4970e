"""The commands, each a console script (``pyproject.toml``) with a ``--help``:

- ``wsrl-train`` (:mod:`~torchrl_wsrl.cli.train`, also ``python -m torchrl_wsrl.train``): one run,
  or a hydra sweep, of pre-training, warmup and online fine-tuning;
- ``wsrl-compare`` (:mod:`~torchrl_wsrl.cli.compare`): the paper's comparison, one pre-training per
  seed and every algorithm fine-tuned from it, then the report;
- ``wsrl-report`` (:mod:`~torchrl_wsrl.cli.report`): scores, curves and Q diagnostics of any set of
  run directories;
- ``wsrl-generate`` (:mod:`~torchrl_wsrl.cli.generate`): a D4RL-format offline dataset for a task.

Commands sit on top of every other layer; nothing in the package imports them.
"""

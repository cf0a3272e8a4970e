"""``python -m torchrl_wsrl.train``: the training command, :mod:`torchrl_wsrl.cli.train` (also
installed as ``wsrl-train``)."""
from torchrl_wsrl.cli.train import cli

if __name__ == "__main__":
    cli()

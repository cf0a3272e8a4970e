"""TorchRL loss modules of WSRL and Cal-QL, and the pure functions they are built from."""
from torchrl_wsrl.objectives.calql import CalQLLoss
from torchrl_wsrl.objectives.wsrl import WSRLLoss

__all__ = ["CalQLLoss", "WSRLLoss"]

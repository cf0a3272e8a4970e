"""TorchRL loss modules of WSRL and Cal-QL, and the pure functions they are built from.

Layout: one core and two siblings, one per phase of WSRL.

- :class:`EnsembleSACLoss` (``ensemble_sac.py``): ensemble SAC. E critics trained on a TD
  target that takes the min over a drawn subset of the target critics (REDQ), the SAC actor
  and temperature, the behaviour-cloning actor loss; the batch keys (``set_keys``,
  ``in_keys``, ``out_keys``) and the parameters.
- :class:`WSRLLoss` (``wsrl.py``): the online fine-tuning loss, the core as it is (WSRL
  Sec. 4: no offline term, no offline data).
- :class:`CalQLLoss` (``calql.py``): the offline pre-training loss, the core with the CQL /
  Cal-QL regulariser added to its critic loss.

Siblings rather than ``CalQLLoss(WSRLLoss)``: Cal-QL is not a variant of WSRL's online loss;
both are ensemble SAC and differ only in the critic loss, so each states its own difference
from the core, and code that takes either loss (``UpdateStep``, the checkpoints) asks for an
:class:`EnsembleSACLoss`. The state-dict keys are the core's parameter names in both.
``functional.py`` holds the math as pure functions on tensors.
"""
from torchrl_wsrl.objectives.calql import CalQLLoss
from torchrl_wsrl.objectives.ensemble_sac import EnsembleSACLoss
from torchrl_wsrl.objectives.wsrl import WSRLLoss

__all__ = ["CalQLLoss", "EnsembleSACLoss", "WSRLLoss"]

"""WSRLLoss: the online fine-tuning loss of WSRL (Zhou et al., ICLR 2025, Sec. 4)."""
from __future__ import annotations

from torchrl_wsrl.objectives.ensemble_sac import EnsembleSACLoss


class WSRLLoss(EnsembleSACLoss):
    """WSRL's online loss: ensemble SAC (:class:`EnsembleSACLoss`) and nothing else.

    After the warmup, WSRL fine-tunes with the ensemble SAC it pre-trained with Cal-QL, minus
    the offline regulariser, and keeps no offline data (WSRL Sec. 4; WSRL doc, Phase 3). Its
    defaults are the authors' online settings: 2 of the E critics drawn with replacement for
    the target min, no entropy term in the backup, the min over all critics in the actor loss.
    Arguments, keys and losses: :class:`EnsembleSACLoss`.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from torchrl_wsrl.modules import EnsembleQCritic, make_actor
        >>> from torchrl_wsrl.objectives import WSRLLoss
        >>> actor = make_actor(11, 3, (64, 64))
        >>> critic = EnsembleQCritic(11, 3, num_critics=10, hidden_sizes=(64, 64))
        >>> loss = WSRLLoss(actor, critic, action_dim=3)
        >>> td = TensorDict({"observation": torch.randn(8, 11), "action": torch.rand(8, 3) * 2 - 1,
        ...     "next": {"observation": torch.randn(8, 11), "reward": torch.randn(8, 1),
        ...              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, [8])
        >>> sorted(k for k in loss(td).keys() if k.startswith("loss_"))
        ['loss_actor', 'loss_alpha', 'loss_qvalue']
    """

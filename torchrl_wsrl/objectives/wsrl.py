"""WSRLLoss: the online ensemble SAC of WSRL (Zhou et al., ICLR 2025, Sec. 4)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModule
from tensordict.utils import NestedKey
from torch import nn
from torchrl.modules.distributions.utils import rsample_and_log_prob
from torchrl.objectives import LossModule, ValueEstimators

from torchrl_wsrl.modules.critic import EnsembleQCritic
from torchrl_wsrl.objectives.functional import (
    draw_critic_subset,
    max_target_backup,
    td_target,
)

Q_REDUCTIONS = ("min", "mean")


class WSRLLoss(LossModule):
    """Ensemble SAC with a subsampled-min TD target: WSRL's online fine-tuning loss.

    Critic: ``L_Q = mean_{i,b} (Q_i(s_b, a_b) - y_b)^2`` with the TD target
    ``y = r + gamma (1 - terminated) min_{j in M} Q'_j(s', a')``, ``a' ~ pi(s')``, M a set of
    ``subsample_size`` critics drawn from the E target critics (with replacement by default,
    as in the authors' code), and no entropy bonus in the backup unless ``backup_entropy``.
    With ``max_target_backup`` the target draws ``num_target_actions`` next actions and keeps
    the max over them of the min over M (CQL App. F).
    Actor: ``L_pi = mean_b [alpha log pi(a|s) - red_i Q_i(s, a)]``, ``a ~ pi(s)`` reparameterised,
    ``red`` the min (default) or the mean over **all** E critics.
    Temperature: ``L_alpha = -mean_b [log_alpha (log pi(a|s) + H_target)]``, H_target = -|A|.
    Sources: WSRL doc Phase 3; SAC (Haarnoja et al. 2018, Eq. 7, 18); REDQ (Chen et al. 2021).

    Args:
        actor_network: a ProbabilisticActor (tanh-Gaussian) reading ``observation``.
        qvalue_network: an :class:`EnsembleQCritic`.

    Keyword Args:
        action_dim: |A|; the target entropy is ``-action_dim``.
        subsample_size: critics in the target min (2).
        subsample_replace: draw them with replacement (True, as the authors).
        backup_entropy: subtract ``alpha log pi(a'|s')`` in the backup (False for WSRL).
        actor_q_reduction: ``"min"`` or ``"mean"`` over the critics in the actor loss.
        max_target_backup, num_target_actions: see above (antmaze: True, 10).
        alpha_init: initial temperature (1.0).
        gamma: discount (0.99).

    The update step (``torchrl_wsrl.update``) calls :meth:`critic_loss`, :meth:`actor_loss`
    and :meth:`alpha_loss` separately (4 critic minibatches, then one actor and one
    temperature update); :meth:`forward` computes the three on one batch, as TorchRL losses do.

    Examples:
        >>> from torchrl_wsrl.modules import EnsembleQCritic, make_actor
        >>> actor = make_actor(11, 3, (64, 64))
        >>> critic = EnsembleQCritic(11, 3, num_critics=10, hidden_sizes=(64, 64))
        >>> loss = WSRLLoss(actor, critic, action_dim=3)
        >>> td = TensorDict({"observation": torch.randn(8, 11), "action": torch.rand(8, 3) * 2 - 1,
        ...     "next": {"observation": torch.randn(8, 11), "reward": torch.randn(8, 1),
        ...              "done": torch.zeros(8, 1, dtype=torch.bool),
        ...              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, [8])
        >>> sorted(k for k in loss(td).keys() if k.startswith("loss_"))
        ['loss_actor', 'loss_alpha', 'loss_qvalue']
    """

    @dataclass
    class _AcceptedKeys:
        """Tensordict keys the loss reads; change them with :meth:`set_keys`.

        Attributes:
            observation: observation ``[B, obs]``; its ``("next", ...)`` twin is read too.
            action: dataset / replay action ``[B, act]``.
            reward, done, terminated: read under ``"next"``, ``[B, 1]``.
            state_action_value: the critic's output key.
            mc_return: Monte-Carlo return-to-go ``[B, 1]`` (Cal-QL only).
        """

        observation: NestedKey = "observation"
        action: NestedKey = "action"
        reward: NestedKey = "reward"
        done: NestedKey = "done"
        terminated: NestedKey = "terminated"
        state_action_value: NestedKey = "state_action_value"
        mc_return: NestedKey = "mc_return"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys
    default_value_estimator = ValueEstimators.TD0

    actor_network: TensorDictModule
    qvalue_network: EnsembleQCritic
    actor_network_params: TensorDictBase
    qvalue_network_params: TensorDictBase
    target_actor_network_params: TensorDictBase
    target_qvalue_network_params: TensorDictBase

    def __init__(
        self,
        actor_network: TensorDictModule,
        qvalue_network: EnsembleQCritic,
        *,
        action_dim: int,
        subsample_size: int = 2,
        subsample_replace: bool = True,
        backup_entropy: bool = False,
        actor_q_reduction: str = "min",
        max_target_backup: bool = False,
        num_target_actions: int = 10,
        alpha_init: float = 1.0,
        gamma: float = 0.99,
    ):
        super().__init__()
        if actor_q_reduction not in Q_REDUCTIONS:
            raise ValueError(f"actor_q_reduction must be one of {Q_REDUCTIONS}, got {actor_q_reduction!r}")
        self.num_critics = qvalue_network.num_critics
        # Validates subsample_size against the ensemble once, at construction.
        draw_critic_subset(self.num_critics, subsample_size, replace=subsample_replace, device="cpu")
        self.action_dim = action_dim
        self.subsample_size = subsample_size
        self.subsample_replace = subsample_replace
        self.backup_entropy = backup_entropy
        self.actor_q_reduction = actor_q_reduction
        self.max_target_backup = max_target_backup
        self.num_target_actions = num_target_actions if max_target_backup else 1
        self.target_entropy = -float(action_dim)
        self.convert_to_functional(actor_network, "actor_network")
        self.convert_to_functional(qvalue_network, "qvalue_network", create_target_params=True)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha_init)))
        self.make_value_estimator(gamma=gamma)

    def make_value_estimator(self, value_type: ValueEstimators | None = None, **hyperparams) -> None:
        """Set the discount. Only the one-step TD target (``ValueEstimators.TD0``) is defined for
        the ensemble backup (WSRL Sec. 4); any other estimator raises ``NotImplementedError``."""
        value_type = value_type or self.default_value_estimator
        if value_type is not ValueEstimators.TD0:
            raise NotImplementedError(f"{type(self).__name__} supports ValueEstimators.TD0 only, got {value_type}")
        self.gamma = float(hyperparams.get("gamma", getattr(self, "gamma", 0.99)))

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by optimizer: ``critic`` (the ensemble), ``actor``, ``alpha`` (temperature)."""
        return {
            "critic": list(self.qvalue_network_params.values(True, True)),
            "actor": list(self.actor_network_params.values(True, True)),
            "alpha": [self.log_alpha],
        }

    # -- pieces shared by the losses ---------------------------------------------------------
    def _policy(self, observation: torch.Tensor):
        return self.actor_network.get_dist(TensorDict({self.tensor_keys.observation: observation}, observation.shape[:-1]))

    def _sample(self, observation: torch.Tensor, num_samples: int | None = None):
        """Reparameterised actions and log-densities: ``[*n, B, act]``, ``[*n, B]``.

        The log-density scores the pre-tanh Normal draw itself: inverting ``tanh`` of a
        saturated action (``log_prob(rsample())``) returns a wrong score and wrong gradients.
        """
        dist = self._policy(observation)
        return rsample_and_log_prob(dist, () if num_samples is None else (num_samples,))

    def _q_with(
        self, params: TensorDictBase, observation: torch.Tensor, action: torch.Tensor, critics: torch.Tensor | None = None
    ) -> torch.Tensor:
        # preserve_module_state=False: swap plain tensors in, instead of wrapping them in new
        # Parameters that would track gradients (and turn the target buffers into Parameters).
        with params.to_module(self.qvalue_network, preserve_module_state=False):
            return self.qvalue_network.q_values(observation, action, critics)

    @torch.no_grad()
    def next_value(self, tensordict: TensorDictBase) -> torch.Tensor:
        """Backup value of s': ``[B, 1]`` (min over drawn target critics, max over actions if set)."""
        next_obs = tensordict.get(("next", self.tensor_keys.observation))
        n = self.num_target_actions
        next_action, next_log_prob = self._sample(next_obs, n)
        index = draw_critic_subset(self.num_critics, self.subsample_size, replace=self.subsample_replace, device=next_obs.device)
        # Only the drawn critics are evaluated (REDQ in-target minimisation, Chen et al. 2021):
        # the min over Q_all[index] at S/E of the cost.
        q = self._q_with(self.target_qvalue_network_params, next_obs.expand(n, *next_obs.shape), next_action, index)  # [S, n, B, 1]
        value = q.amin(dim=0)  # [n, B, 1]
        if self.backup_entropy:
            value = value - self.alpha * next_log_prob.unsqueeze(-1)
        return max_target_backup(value)

    def td_target(self, tensordict: TensorDictBase) -> torch.Tensor:
        """The TD target ``y`` ``[B, 1]`` (no gradient)."""
        nxt = tensordict.get("next")
        return td_target(nxt.get(self.tensor_keys.reward), nxt.get(self.tensor_keys.terminated), self.next_value(tensordict), self.gamma)

    # -- the three losses ----------------------------------------------------------------------
    def critic_loss(self, tensordict: TensorDictBase) -> TensorDict:
        """``loss_qvalue`` (mean over critics and batch of the squared TD error) and diagnostics."""
        q = self.qvalue_network.q_values(tensordict.get(self.tensor_keys.observation), tensordict.get(self.tensor_keys.action))
        return self._td_loss(q, self.td_target(tensordict))

    @staticmethod
    def _td_loss(q: torch.Tensor, target: torch.Tensor) -> TensorDict:
        return TensorDict({"loss_qvalue": (q - target).pow(2).mean(), "q_mean": q.detach().mean(), "td_target_mean": target.mean()})

    def actor_loss(self, tensordict: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss_actor, log_prob [B])``; the critics are read with detached parameters."""
        observation = tensordict.get(self.tensor_keys.observation)
        action, log_prob = self._sample(observation)
        q = self._q_with(self.qvalue_network_params.detach(), observation, action)
        q = q.amin(0) if self.actor_q_reduction == "min" else q.mean(0)
        return (self.alpha.detach() * log_prob - q.squeeze(-1)).mean(), log_prob

    def bc_actor_loss(self, tensordict: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
        """Behaviour-cloning actor loss ``mean_b [alpha log pi(a~|s) - log pi(a_b|s)]`` on the
        batch's actions ``a_b`` ``[B, act]``, and ``log_prob`` ``[B]`` of the sampled ``a~``.

        The warm start of CQL's official code (``policy_eval_start``) and of CORL's CQL /
        Cal-QL (``bc_steps``): maximum likelihood of the data actions, with SAC's entropy term
        kept so the temperature keeps its target. Actions at the tanh bounds are scored by
        TorchRL's ``TanhNormal.log_prob``, which clamps them inside ``(-1, 1)``.
        """
        dist = self._policy(tensordict.get(self.tensor_keys.observation))
        _, log_prob = rsample_and_log_prob(dist, ())
        data_log_prob = dist.log_prob(tensordict.get(self.tensor_keys.action))
        return (self.alpha.detach() * log_prob - data_log_prob).mean(), log_prob

    def alpha_loss(self, log_prob: torch.Tensor) -> torch.Tensor:
        """``loss_alpha`` towards the target entropy -|A| (SAC, Haarnoja et al. 2018b, Eq. 18)."""
        return -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        """All losses on one batch: ``loss_qvalue``, ``loss_actor``, ``loss_alpha`` (+ diagnostics)."""
        out = self.critic_loss(tensordict)
        loss_actor, log_prob = self.actor_loss(tensordict)
        out.update(
            {
                "loss_actor": loss_actor,
                "loss_alpha": self.alpha_loss(log_prob),
                "alpha": self.alpha.detach(),
                "entropy": -log_prob.detach().mean(),
            }
        )
        return out

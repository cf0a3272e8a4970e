"""CalQLLoss: ensemble Cal-QL / CQL, WSRL's offline pre-training loss."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase, unravel_key
from tensordict.nn import TensorDictModule, TensorDictModuleBase
from tensordict.utils import NestedKey
from torch import nn
from torch.nn import functional as F

from torchrl_wsrl.modules.critic import EnsembleQCritic
from torchrl_wsrl.objectives.ensemble_sac import EnsembleSACLoss, next_key
from torchrl_wsrl.objectives.functional import calibrate, cql_penalty, draw_critic_subset


class CalQLLoss(EnsembleSACLoss):
    """Ensemble Cal-QL (Nakamoto et al., NeurIPS 2023); with ``calibrate=False`` it is CQL.

    The critic loss adds to the TD loss of :class:`EnsembleSACLoss` the CQL regulariser
    (:func:`~torchrl_wsrl.objectives.functional.cql_penalty`, one value per critic) averaged over
    ``cql_subsample_size`` critics drawn afresh at each call, as the authors' ensemble
    pre-training does (WSRL doc, Phase 1): ``L_Q = L_TD + w * mean_{i in D} R_i``, while all E
    critics keep the TD loss. Only the drawn critics are evaluated on the 3n proposals (about a
    quarter of the FLOPs at E = 10, n = 10); the draw follows ``subsample_replace``. In
    expectation over the draw it equals the average over all critics, which
    ``cql_subsample_size=None`` computes instead. Cal-QL replaces the Q-values of the policy's actions by
    ``max(Q, mc_return)`` before the importance correction (Cal-QL Eq. 5), reading ``mc_return``
    ``[B, 1]`` from the batch. The weight w is fixed (``cql_alpha``) or, with ``cql_lagrange``,
    the multiplier ``w = softplus(rho)`` trained by ``loss_cql_alpha = -w (mean_i R_i - gap)``
    (CQL Eq. 30; the authors' antmaze setting, init 1.0, gap 0.8). The actor and temperature
    losses are those of :class:`EnsembleSACLoss`, as in WSRL's online phase. Source: WSRL doc
    Phase 1.

    Keyword Args:
        cql_alpha: fixed weight (5 locomotion/kitchen, 1 adroit); ignored with ``cql_lagrange``.
        cql_lagrange, cql_target_gap, cql_alpha_init: the Lagrange variant.
        num_cql_actions: n, actions per proposal (10: 30 out-of-distribution values per critic).
        importance_sample: see :func:`cql_penalty` (False for kitchen).
        calibrate: apply the Cal-QL bound (False: CQL).
        cql_temperature: CQL temperature (1.0).
        cql_subsample_size: critics drawn per call for the regulariser (2, the authors'); ``None``:
            every critic.
        Other keywords: :class:`EnsembleSACLoss`.

    Keys: those of :class:`EnsembleSACLoss` and ``mc_return``, read with ``calibrate=True``
    only. Output keys of :meth:`critic_loss`: those of :class:`EnsembleSACLoss` and
    ``cql_alpha``, ``cql_penalty`` and, with the Lagrange variant, ``loss_cql_alpha``.
    Parameters: those of :class:`EnsembleSACLoss`, the buffer ``cql_alpha`` and, with the
    Lagrange variant, ``cql_alpha_raw`` (rho).

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from torchrl_wsrl.modules import EnsembleQCritic, make_actor
        >>> from torchrl_wsrl.objectives import CalQLLoss
        >>> actor = make_actor(11, 3, (64, 64))
        >>> critic = EnsembleQCritic(11, 3, num_critics=10, hidden_sizes=(64, 64))
        >>> loss = CalQLLoss(actor, critic, action_dim=3, cql_lagrange=True)
        >>> loss.set_keys(mc_return="return_to_go")
        >>> loss.in_keys[-1]
        'return_to_go'
        >>> td = TensorDict({"observation": torch.randn(8, 11), "action": torch.rand(8, 3) * 2 - 1,
        ...     "return_to_go": torch.randn(8, 1),
        ...     "next": {"observation": torch.randn(8, 11), "reward": torch.randn(8, 1),
        ...              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, [8])
        >>> sorted(loss.critic_loss(td).keys())
        ['cql_alpha', 'cql_penalty', 'loss_cql_alpha', 'loss_qvalue', 'q_mean', 'td_target_mean']
    """

    @dataclass
    class _AcceptedKeys(EnsembleSACLoss._AcceptedKeys):
        """The keys of :class:`EnsembleSACLoss`, and:

        Attributes:
            mc_return: Monte-Carlo return-to-go ``[B, 1]``, Cal-QL's bound on the Q-values of
                the policy's actions (read with ``calibrate=True`` only).
        """

        mc_return: NestedKey = "mc_return"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    def __init__(
        self,
        actor_network: TensorDictModule,
        qvalue_network: EnsembleQCritic | TensorDictModuleBase,
        *,
        cql_alpha: float = 5.0,
        cql_lagrange: bool = False,
        cql_target_gap: float = 0.8,
        cql_alpha_init: float = 1.0,
        num_cql_actions: int = 10,
        importance_sample: bool = True,
        calibrate: bool = True,
        cql_temperature: float = 1.0,
        cql_subsample_size: int | None = 2,
        **kwargs,
    ):
        super().__init__(actor_network, qvalue_network, **kwargs)
        if cql_subsample_size is not None:  # validated once, at construction
            draw_critic_subset(self.num_critics, cql_subsample_size, replace=self.subsample_replace, device="cpu")
        self.cql_subsample_size = cql_subsample_size
        self.register_buffer("cql_alpha", torch.tensor(float(cql_alpha)))
        self.cql_lagrange = cql_lagrange
        self.cql_target_gap = cql_target_gap
        self.num_cql_actions = num_cql_actions
        self.importance_sample = importance_sample
        self.calibrate = calibrate
        self.cql_temperature = cql_temperature
        # softplus^-1(init): the multiplier starts at cql_alpha_init.
        self.cql_alpha_raw = (
            nn.Parameter(torch.tensor(math.log(math.expm1(cql_alpha_init)))) if cql_lagrange else None
        )

    @property
    def in_keys(self) -> list[NestedKey]:
        """The core's entries (:attr:`EnsembleSACLoss.in_keys`), and ``mc_return`` when calibrated."""
        keys = super().in_keys
        if self.calibrate:
            keys.append(unravel_key(self.tensor_keys.mc_return))
        return keys

    def _critic_out_keys(self) -> list[str]:
        keys = [*super()._critic_out_keys(), "cql_alpha", "cql_penalty"]
        if self.cql_lagrange:
            keys.append("loss_cql_alpha")
        return keys

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The groups of :class:`EnsembleSACLoss`, plus ``cql_alpha`` (the Lagrange multiplier) when it is learned."""
        groups = super().parameter_groups()
        if self.cql_lagrange:
            groups["cql_alpha"] = [self.cql_alpha_raw]
        return groups

    def cql_weight(self) -> torch.Tensor:
        """The current CQL weight w, a scalar tensor (the multiplier, or the fixed ``cql_alpha``)."""
        if self.cql_lagrange:
            return F.softplus(self.cql_alpha_raw).clamp(max=1e6)
        return self.cql_alpha

    def _cql_critics(self, device: torch.device) -> torch.Tensor | None:
        if self.cql_subsample_size is None:
            return None
        return draw_critic_subset(self.num_critics, self.cql_subsample_size, replace=self.subsample_replace, device=device)

    def _critic_terms(self, tensordict: TensorDictBase) -> tuple[TensorDict, torch.Tensor]:
        """:meth:`critic_loss`: the TD loss plus ``w`` times the CQL regulariser
        (:meth:`EnsembleSACLoss.critic_loss`'s entries, ``loss_qvalue`` regularised; with
        ``reduction="none"`` the batch's regulariser is added to each sample), and ``cql_alpha``
        (w), ``cql_penalty`` (the regulariser) and, with the Lagrange variant,
        ``loss_cql_alpha``: scalars; and the detached TD errors ``[E, B, 1]``."""
        observation = self._entry(tensordict, self.tensor_keys.observation, "observation")
        next_observation = self._entry(tensordict, next_key(self.tensor_keys.observation), "observation")
        n = self.num_cql_actions
        # Random draws in TorchRL CQLLoss's order: the backup's next action, then the uniform,
        # policy and next-policy proposals (so one seed gives both losses the same draws).
        target = self.td_target(tensordict)
        random_action = observation.new_empty(n, *observation.shape[:-1], self.action_dim).uniform_(-1, 1)
        # The proposals only probe the critics: no gradient reaches the actor through them.
        with torch.no_grad():
            policy_action, policy_log_prob = self._sample(observation, n)
            next_action, next_log_prob = self._sample(next_observation, n)
        q_data = self._q(observation, self._entry(tensordict, self.tensor_keys.action, "action"))  # [E, B, 1]
        critics = self._cql_critics(observation.device)  # [S] drawn, or None: all E
        proposals = torch.cat([random_action, policy_action, next_action], dim=0)  # [3n, B, A]
        q = self._q(observation.expand(proposals.shape[0], *observation.shape), proposals, critics)
        q_random, q_policy, q_next_policy = q.squeeze(-1).split(n, dim=1)  # [S, n, B] each
        if self.calibrate:
            mc_return = self._entry(tensordict, self.tensor_keys.mc_return, "mc_return")
            q_policy, q_next_policy = calibrate(q_policy, mc_return), calibrate(q_next_policy, mc_return)
        penalty = cql_penalty(
            q_data if critics is None else q_data.index_select(0, critics),
            q_random,
            q_policy,
            q_next_policy,
            policy_log_prob,
            next_log_prob,
            action_dim=self.action_dim,
            importance_sample=self.importance_sample,
            temperature=self.cql_temperature,
        ).mean()
        weight = self.cql_weight()
        out, error = self._td_loss(q_data, target, tensordict)
        if self.cql_lagrange:
            out["loss_cql_alpha"] = -(weight * (penalty.detach() - self.cql_target_gap))
        weight = weight.detach()
        out["loss_qvalue"] = out["loss_qvalue"] + weight * penalty
        out["cql_alpha"] = weight
        out["cql_penalty"] = penalty.detach()
        return out, error

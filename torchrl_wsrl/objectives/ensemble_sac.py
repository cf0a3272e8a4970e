"""EnsembleSACLoss: ensemble SAC with a subsampled-min TD target, the core of both WSRL losses.

:class:`~torchrl_wsrl.objectives.WSRLLoss` (online fine-tuning) is this loss as it is;
:class:`~torchrl_wsrl.objectives.CalQLLoss` (offline pre-training) adds the CQL / Cal-QL
regulariser to its critic loss. See the package docstring for why the two are siblings.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase, unravel_key
from tensordict.nn import TensorDictModule, TensorDictModuleBase, dispatch
from tensordict.utils import NestedKey
from torch import nn
from torchrl.modules.distributions.utils import rsample_and_log_prob
from torchrl.objectives import LossModule, ValueEstimators

from torchrl_wsrl.modules.critic import EnsembleQCritic
from torchrl_wsrl.objectives.functional import (
    draw_critic_subset,
    max_target_backup,
    reduce_loss,
    td_target,
)

Q_REDUCTIONS = ("min", "mean")
REDUCTIONS = ("mean", "sum", "none")  # of the per-sample losses over the batch, as TorchRL's losses
DEFAULT_NUM_QVALUE_NETS = 10  # critics built from a single Q-value module (the paper's E)
TD_OUT_KEYS = ("loss_qvalue", "q_mean", "td_target_mean")
ACTOR_OUT_KEYS = ("loss_actor", "loss_alpha", "alpha", "entropy")


def action_dim_of(action_dim: int | None, action_spec, actor_network) -> int:
    """|A| for the target entropy: ``action_dim`` if given, else the last dimension of
    ``action_spec``, else of the actor's own spec (``actor_network.spec["action"]``).

    Raises:
        ValueError: none of the three gives it.
    """
    if action_dim is not None:
        return int(action_dim)
    if action_spec is None:
        spec = getattr(actor_network, "spec", None)
        action_spec = spec.get("action", None) if spec is not None and "action" in spec.keys() else spec
    if action_spec is None or not action_spec.shape:
        raise ValueError("the target entropy needs |A|: give action_spec= (e.g. env.action_spec), action_dim=, or an actor with a spec")
    return int(action_spec.shape[-1])


def q_module_keys(qvalue_network: TensorDictModuleBase, action_key: NestedKey) -> tuple[NestedKey, NestedKey]:
    """``(observation key, output key)`` of a TorchRL Q-value module that reads an observation
    and ``action_key`` and writes one entry (e.g. ``ValueOperator(MLP, in_keys=["observation",
    "action"])``, output ``state_action_value``).

    Raises:
        ValueError: it does not read exactly ``action_key`` and one other entry, or writes none.
    """
    in_keys = [unravel_key(k) for k in qvalue_network.in_keys]
    others = [k for k in in_keys if k != unravel_key(action_key)]
    if len(in_keys) != 2 or len(others) != 1 or not qvalue_network.out_keys:
        raise ValueError(
            f"a Q-value module must read the observation and {action_key!r} and write the Q-value; "
            f"this one reads {in_keys} and writes {list(qvalue_network.out_keys)}"
        )
    return others[0], unravel_key(qvalue_network.out_keys[0])


def _key_list(tensordict: TensorDictBase, limit: int = 8) -> str:
    keys = sorted(k if isinstance(k, str) else ".".join(k) for k in tensordict.keys(True, True))
    return ", ".join(keys[:limit]) + (" ..." if len(keys) > limit else "")


def next_key(key: NestedKey) -> NestedKey:
    """The entry of ``key`` in the next state: ``"observation" -> ("next", "observation")``,
    ``("agent", "obs") -> ("next", "agent", "obs")``."""
    return unravel_key(("next", key))


class EnsembleSACLoss(LossModule):
    """Ensemble SAC with a subsampled-min TD target: WSRL's online loss, Cal-QL's core.

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
        actor_network: a ProbabilisticActor (tanh-Gaussian) with one in-key, the observation
            (its name is the actor's own: the loss hands it the batch's ``observation`` entry).
        qvalue_network: the critics. Either an :class:`EnsembleQCritic` (the fast path: E
            critics in stacked weights, called on tensors through
            :meth:`EnsembleQCritic.q_values`), or any TorchRL Q-value module reading the
            observation and ``"action"`` and writing one value ``[*B, 1]`` (e.g.
            ``ValueOperator(MLP(out_features=1), in_keys=["observation", "action"])``), from
            which ``num_qvalue_nets`` critics are made as TorchRL's ``REDQLoss`` makes them
            (``convert_to_functional(expand_dim=E)``: parameters stacked ``[E, ...]``, each copy
            redrawn uniformly between the module's min and max) and called under ``torch.vmap``.

    Keyword Args:
        num_qvalue_nets: E for a single Q-value module (10); for an :class:`EnsembleQCritic`
            its own ``num_critics`` (a different number raises).
        action_spec: the env's action spec; |A| is its last dimension. ``action_dim`` gives |A|
            directly; with neither, the actor's ``spec["action"]``.
        subsample_size: critics in the target min (2).
        subsample_replace: draw them with replacement (True, as the authors).
        backup_entropy: subtract ``alpha log pi(a'|s')`` in the backup (False for WSRL).
        actor_q_reduction: ``"min"`` or ``"mean"`` over the critics in the actor loss.
        max_target_backup, num_target_actions: see above (antmaze: True, 10).
        alpha_init: initial temperature (1.0).
        gamma: discount (0.99).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch of the
            per-sample losses (``loss_qvalue``: the mean over critics of the squared TD error;
            ``loss_actor``; ``loss_alpha``); with ``"none"`` each is ``[B]``.
        use_prioritized_weights: weigh the per-sample losses by the batch's
            ``priority_weight`` entry (a ``PrioritizedReplayBuffer``'s importance weights)
            where it exists (``"auto"``, default), always (True) or never (False).

    Raises:
        ValueError: ``actor_q_reduction`` or ``reduction`` unknown, ``subsample_size`` out of
            range for the ensemble (see :func:`draw_critic_subset`), an actor that does not
            read exactly one key, a Q-value module that does not read the observation and the
            action, a ``num_qvalue_nets`` that contradicts the ensemble, or no way to know |A|.

    The batch entries the loss reads are :attr:`in_keys`, named by :attr:`tensor_keys` and
    renamed with :meth:`set_keys` (an unknown name raises ``ValueError``); :attr:`out_keys`
    are the entries :meth:`forward` returns. The parameters are ``actor_network_params``,
    ``qvalue_network_params``, the target critics ``target_qvalue_network_params`` (the
    actor has no target) and ``log_alpha``.

    The update step (``torchrl_wsrl.update``) calls :meth:`critic_loss`, :meth:`actor_loss`
    and :meth:`alpha_loss` separately (4 critic minibatches, then one actor and one
    temperature update); :meth:`forward` computes the three on one batch, as TorchRL losses do.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from torchrl_wsrl.modules import EnsembleQCritic, make_actor
        >>> from torchrl_wsrl.objectives import EnsembleSACLoss
        >>> actor = make_actor(11, 3, (64, 64))
        >>> critic = EnsembleQCritic(11, 3, num_critics=10, hidden_sizes=(64, 64))
        >>> loss = EnsembleSACLoss(actor, critic, action_dim=3)
        >>> loss.set_keys(observation="obs", reward=("reward", "scaled"))
        >>> loss.in_keys
        ['obs', 'action', ('next', 'obs'), ('next', 'reward', 'scaled'), ('next', 'terminated')]
        >>> td = TensorDict({"obs": torch.randn(8, 11), "action": torch.rand(8, 3) * 2 - 1,
        ...     "next": {"obs": torch.randn(8, 11), "reward": {"scaled": torch.randn(8, 1)},
        ...              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, [8])
        >>> out = loss(td)
        >>> sorted(out.keys()) == sorted(loss.out_keys)
        True
        >>> out["loss_qvalue"].shape
        torch.Size([])
    """

    @dataclass
    class _AcceptedKeys:
        """Batch entries the loss reads; rename them with :meth:`set_keys`.

        Attributes:
            observation: observation ``[B, obs]``, read at the root and under ``"next"``
                (``s`` and ``s'``); the actor and the critics evaluate it.
            action: dataset / replay action ``[B, act]``, the critics' action in the TD loss.
            reward: ``("next", reward)``, the (scaled) reward ``[B, 1]``.
            terminated: ``("next", terminated)``, bool ``[B, 1]``; a truncated step is not
                terminated: the TD target bootstraps it.
            done: ``("next", done)``: accepted for TorchRL's key sets, never read (the target
                reads ``terminated``: a time-limit end bootstraps).
            priority: where :meth:`forward` writes the per-sample TD error ``[B]`` (max over
                the critics of ``|Q_i - y|``), the entry a ``PrioritizedReplayBuffer`` reads
                (``update_tensordict_priority``).
            priority_weight: the importance weights ``[B]`` a ``PrioritizedReplayBuffer``
                writes, read with ``use_prioritized_weights``.
        """

        observation: NestedKey = "observation"
        action: NestedKey = "action"
        reward: NestedKey = "reward"
        terminated: NestedKey = "terminated"
        done: NestedKey = "done"
        priority: NestedKey = "td_error"
        priority_weight: NestedKey = "priority_weight"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys
    default_value_estimator = ValueEstimators.TD0

    actor_network: TensorDictModule
    qvalue_network: EnsembleQCritic | TensorDictModuleBase
    actor_network_params: TensorDictBase
    qvalue_network_params: TensorDictBase
    target_qvalue_network_params: TensorDictBase

    def __init__(
        self,
        actor_network: TensorDictModule,
        qvalue_network: EnsembleQCritic | TensorDictModuleBase,
        *,
        num_qvalue_nets: int | None = None,
        action_spec=None,
        action_dim: int | None = None,
        subsample_size: int = 2,
        subsample_replace: bool = True,
        backup_entropy: bool = False,
        actor_q_reduction: str = "min",
        max_target_backup: bool = False,
        num_target_actions: int = 10,
        alpha_init: float = 1.0,
        gamma: float = 0.99,
        reduction: str = "mean",
        use_prioritized_weights: str | bool = "auto",
    ):
        super().__init__()
        if actor_q_reduction not in Q_REDUCTIONS:
            raise ValueError(f"actor_q_reduction must be one of {Q_REDUCTIONS}, got {actor_q_reduction!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if len(actor_network.in_keys) != 1:
            raise ValueError(f"actor_network must read one key, the observation; it reads {actor_network.in_keys}")
        self._stacked = isinstance(qvalue_network, EnsembleQCritic)  # the fast path
        if self._stacked:
            if num_qvalue_nets is not None and num_qvalue_nets != qvalue_network.num_critics:
                raise ValueError(f"num_qvalue_nets={num_qvalue_nets}, but the EnsembleQCritic holds {qvalue_network.num_critics} critics")
            self.num_critics = qvalue_network.num_critics
        else:
            self._q_observation_key, self._q_out_key = q_module_keys(qvalue_network, "action")
            self.num_critics = DEFAULT_NUM_QVALUE_NETS if num_qvalue_nets is None else num_qvalue_nets
        # Validates subsample_size against the ensemble once, at construction.
        draw_critic_subset(self.num_critics, subsample_size, replace=subsample_replace, device="cpu")
        self.action_dim = action_dim_of(action_dim, action_spec, actor_network)
        self.subsample_size = subsample_size
        self.subsample_replace = subsample_replace
        self.backup_entropy = backup_entropy
        self.actor_q_reduction = actor_q_reduction
        self.max_target_backup = max_target_backup
        self.num_target_actions = num_target_actions if max_target_backup else 1
        self.target_entropy = -float(self.action_dim)
        self.reduction = reduction
        self.use_prioritized_weights = use_prioritized_weights
        self._selected_out_keys = None
        # TorchRL asks every converted network to declare a target ("target_<name>_params")
        # even when none is made; the actor has none (WSRL doc, Phase 3), so none is declared.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The name target_actor_network_params", UserWarning)
            self.convert_to_functional(actor_network, "actor_network")
        self.convert_to_functional(
            qvalue_network, "qvalue_network", expand_dim=None if self._stacked else self.num_critics, create_target_params=True
        )
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
    def in_keys(self) -> list[NestedKey]:
        """The batch entries the losses read, as :attr:`tensor_keys` names them now."""
        keys = self.tensor_keys
        return [
            unravel_key(keys.observation),
            unravel_key(keys.action),
            next_key(keys.observation),
            next_key(keys.reward),
            next_key(keys.terminated),
        ]

    @property
    def out_keys(self) -> list[str]:
        """The entries of :meth:`forward`'s output: :meth:`critic_loss`'s, then ``loss_actor``,
        ``loss_alpha``, ``alpha`` and ``entropy`` (those chosen by :meth:`select_out_keys`)."""
        return list(self._selected_out_keys or [*self._critic_out_keys(), *ACTOR_OUT_KEYS])

    @out_keys.setter
    def out_keys(self, keys) -> None:  # select_out_keys / reset_out_keys
        self._selected_out_keys = None if keys is None else list(keys)

    def _critic_out_keys(self) -> list[str]:
        return list(TD_OUT_KEYS)

    @property
    def alpha(self) -> torch.Tensor:
        """The temperature ``exp(log_alpha)``, a scalar tensor."""
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
        # The batch's observation, under the key the actor reads.
        td = TensorDict({self.actor_network.in_keys[0]: observation}, observation.shape[:-1])
        return self.actor_network.get_dist(td)

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
        """Q-values ``[E or S, *B, 1]`` of the critics with ``params`` (live, detached or
        target), of the drawn ``critics`` ``[S]`` only if given."""
        if self._stacked:
            # preserve_module_state=False: swap plain tensors in, instead of wrapping them in new
            # Parameters that would track gradients (and turn the target buffers into Parameters).
            with params.to_module(self.qvalue_network, preserve_module_state=False):
                return self.qvalue_network.q_values(observation, action, critics)
        if critics is not None:
            params = params[critics]
        return torch.vmap(self._one_critic, (0, None, None), randomness="different")(params, observation, action)

    def _one_critic(self, params: TensorDictBase, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        # One copy of a TorchRL Q-value module, on its own keys (vmapped over the copies).
        with params.to_module(self.qvalue_network):
            td = TensorDict({self._q_observation_key: observation, "action": action}, observation.shape[:-1])
            return self.qvalue_network(td).get(self._q_out_key)

    def _q(self, observation: torch.Tensor, action: torch.Tensor, critics: torch.Tensor | None = None) -> torch.Tensor:
        """Q-values ``[E or S, *B, 1]`` of the live critics (gradients flow to them)."""
        if self._stacked:  # the module holds the live parameters: no swap
            return self.qvalue_network.q_values(observation, action, critics)
        return self._q_with(self.qvalue_network_params, observation, action, critics)

    def _entry(self, tensordict: TensorDictBase, key: NestedKey, name: str) -> torch.Tensor:
        """The batch entry ``key`` (the accepted key ``name``).

        Raises:
            KeyError: the batch has no such entry; names it, the loss and ``set_keys``.
        """
        value = tensordict.get(key, None)
        if value is None:
            raise KeyError(
                f"{type(self).__name__}: the batch has no entry {key!r} (its {name}); "
                f"rename it with loss.set_keys({name}=...); the batch has {_key_list(tensordict)}"
            )
        return value

    def _priority_weight(self, tensordict: TensorDictBase) -> torch.Tensor | None:
        if self.use_prioritized_weights is False:
            return None
        weights = tensordict.get(self.tensor_keys.priority_weight, None)
        if weights is None and self.use_prioritized_weights is True:
            self._entry(tensordict, self.tensor_keys.priority_weight, "priority_weight")
        return weights

    @torch.no_grad()
    def next_value(self, tensordict: TensorDictBase) -> torch.Tensor:
        """Backup value of s': ``[B, 1]`` (min over drawn target critics, max over actions if set)."""
        next_obs = self._entry(tensordict, next_key(self.tensor_keys.observation), "observation")
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
        reward = self._entry(tensordict, next_key(self.tensor_keys.reward), "reward")
        terminated = self._entry(tensordict, next_key(self.tensor_keys.terminated), "terminated")
        return td_target(reward, terminated, self.next_value(tensordict), self.gamma)

    # -- the three losses ----------------------------------------------------------------------
    def critic_loss(self, tensordict: TensorDictBase) -> TensorDict:
        """``loss_qvalue`` (per sample the mean over critics of the squared TD error, reduced
        over the batch by :attr:`reduction`) and the diagnostics ``q_mean``,
        ``td_target_mean`` (scalars)."""
        return self._critic_terms(tensordict)[0]

    def _critic_terms(self, tensordict: TensorDictBase) -> tuple[TensorDict, torch.Tensor]:
        """:meth:`critic_loss`'s entries and the detached TD errors ``Q_i - y`` ``[E, B, 1]``."""
        observation = self._entry(tensordict, self.tensor_keys.observation, "observation")
        q = self._q(observation, self._entry(tensordict, self.tensor_keys.action, "action"))
        return self._td_loss(q, self.td_target(tensordict), tensordict)

    def _td_loss(self, q: torch.Tensor, target: torch.Tensor, tensordict: TensorDictBase) -> tuple[TensorDict, torch.Tensor]:
        """The TD loss of the critics' ``q`` ``[E, B, 1]`` against ``target`` ``[B, 1]``, and the
        detached errors ``[E, B, 1]`` (:meth:`forward` reduces them for a prioritized buffer;
        the update step's critic steps never pay for it)."""
        error = q - target
        per_sample = error.pow(2).mean(0).squeeze(-1)  # [B]
        loss = reduce_loss(per_sample, self.reduction, self._priority_weight(tensordict))
        out = TensorDict({"loss_qvalue": loss, "q_mean": q.detach().mean(), "td_target_mean": target.mean()})
        return out, error.detach()

    def actor_loss(self, tensordict: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss_actor, log_prob [B])``, the loss reduced by :attr:`reduction`; the critics
        are read with detached parameters."""
        observation = self._entry(tensordict, self.tensor_keys.observation, "observation")
        action, log_prob = self._sample(observation)
        q = self._q_with(self.qvalue_network_params.detach(), observation, action)
        q = q.amin(0) if self.actor_q_reduction == "min" else q.mean(0)
        per_sample = self.alpha.detach() * log_prob - q.squeeze(-1)
        return reduce_loss(per_sample, self.reduction, self._priority_weight(tensordict)), log_prob

    def bc_actor_loss(self, tensordict: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
        """Behaviour-cloning actor loss ``mean_b [alpha log pi(a~|s) - log pi(a_b|s)]`` on the
        batch's actions ``a_b`` ``[B, act]``, and ``log_prob`` ``[B]`` of the sampled ``a~``.

        The warm start of CQL's official code (``policy_eval_start``) and of CORL's CQL /
        Cal-QL (``bc_steps``): maximum likelihood of the data actions, with SAC's entropy term
        kept so the temperature keeps its target. Actions at the tanh bounds are scored by
        TorchRL's ``TanhNormal.log_prob``, which clamps them inside ``(-1, 1)``.
        """
        dist = self._policy(self._entry(tensordict, self.tensor_keys.observation, "observation"))
        _, log_prob = rsample_and_log_prob(dist, ())
        data_log_prob = dist.log_prob(self._entry(tensordict, self.tensor_keys.action, "action"))
        return (self.alpha.detach() * log_prob - data_log_prob).mean(), log_prob

    def alpha_loss(self, log_prob: torch.Tensor) -> torch.Tensor:
        """``loss_alpha`` towards the target entropy -|A| (SAC, Haarnoja et al. 2018b, Eq. 18),
        reduced by :attr:`reduction`."""
        return reduce_loss(-(self.log_alpha * (log_prob.detach() + self.target_entropy)), self.reduction)

    @dispatch
    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        """All losses on one batch, the entries :attr:`out_keys`; writes the per-sample TD error
        ``[B]`` into ``tensordict`` under the ``priority`` key (for
        ``PrioritizedReplayBuffer.update_tensordict_priority``). Also callable with the entries
        as keyword arguments (``loss(observation=..., action=..., next_observation=...,
        next_reward=..., next_terminated=...)``), returning a tuple in :attr:`out_keys` order."""
        out, error = self._critic_terms(tensordict)
        tensordict.set(self.tensor_keys.priority, error.abs().amax(0).squeeze(-1))  # [B]: max_i |Q_i - y|
        loss_actor, log_prob = self.actor_loss(tensordict)
        out = out.update(
            {
                "loss_actor": loss_actor,
                "loss_alpha": self.alpha_loss(log_prob),
                "alpha": self.alpha.detach(),
                "entropy": -log_prob.detach().mean(),
            }
        )
        return out.select(*self.out_keys) if self._selected_out_keys else out

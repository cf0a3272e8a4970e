"""The critic ensemble: E Q-functions held as stacked weights, evaluated in one batched pass."""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import nn

from torchrl_wsrl.kernels import ensemble_layer_reference, ensemble_layer_triton, triton_available

BACKENDS = ("eager", "triton")
HEADS = ("per_critic", "shared")


def _orthogonal_stack(num_members: int, fan_in: int, fan_out: int, gain: float) -> torch.Tensor:
    """``[num_members, fan_in, fan_out]`` with each member orthogonally initialised (Saxe et al. 2014)."""
    weight = torch.empty(num_members, fan_out, fan_in)
    for member in weight:
        nn.init.orthogonal_(member, gain=gain)
    return weight.transpose(1, 2).contiguous()


def resolve_backend(backend: str) -> str:
    """Return the backend that will actually run.

    ``"triton"`` falls back to ``"eager"`` with one ``UserWarning`` when Triton or a GPU is
    missing (``TRITON_INTERPRET=1`` counts as available: it runs the kernels on the CPU).

    Raises:
        ValueError: ``backend`` is not one of ``"eager"``, ``"triton"``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"critic backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "triton" and not triton_available():
        warnings.warn(
            "critic backend 'triton' needs Triton and a CUDA device (or TRITON_INTERPRET=1); "
            "falling back to 'eager'.",
            stacklevel=3,
        )
        return "eager"
    return backend


class EnsembleMLP(nn.Module):
    """E independent MLPs with stacked weights: hidden layers Dense -> LayerNorm -> ReLU, linear head.

    Weights are ``[E, in, out]`` tensors so the whole ensemble runs as batched matmuls (or one
    fused Triton kernel per hidden layer), never as a Python loop over members.

    Args:
        in_features: input width.
        hidden_sizes: widths of the hidden layers, e.g. ``(256, 256)``.
        num_members: E, the ensemble size.
        out_features: head width (1 for a Q-function).
        ln_eps: LayerNorm epsilon (Flax's default 1e-6, as in the authors' code).
        head_gain: orthogonal gain of the head (hidden layers use sqrt(2)); WSRL doc, "Initialisation".
        backend: ``"eager"`` or ``"triton"`` (see :func:`resolve_backend`).
        head: ``"per_critic"`` (one linear head per member, ``head_weight`` ``[E, hidden, out]``)
            or ``"shared"`` (one linear head applied to every member's last hidden layer,
            ``head_weight`` ``[1, hidden, out]``: the authors' critic, which vmaps only the trunk
            over the ensemble, ``wsrl/agents/sac.py:595-603`` in zhouzypaul/wsrl).

    Input ``[N, in]`` (shared by all members) or ``[E, N, in]``; output ``[E, N, out_features]``.

    Raises:
        ValueError: ``num_members < 1``, no hidden layer, an unknown ``head`` or ``backend``.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int],
        num_members: int,
        out_features: int = 1,
        *,
        ln_eps: float = 1e-6,
        head_gain: float = 1.0,
        backend: str = "eager",
        head: str = "per_critic",
    ):
        super().__init__()
        if num_members < 1:
            raise ValueError(f"num_members must be >= 1, got {num_members}")
        if not hidden_sizes:
            raise ValueError("hidden_sizes must name at least one hidden layer")
        if head not in HEADS:
            raise ValueError(f"critic head must be one of {HEADS}, got {head!r}")
        self.num_members = num_members
        self.head = head
        self.ln_eps = ln_eps
        self.backend = resolve_backend(backend)
        widths = [in_features, *hidden_sizes]
        self.weights = nn.ParameterList(
            nn.Parameter(_orthogonal_stack(num_members, i, o, math.sqrt(2.0)))
            for i, o in zip(widths[:-1], widths[1:])
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(num_members, o)) for o in widths[1:])
        self.ln_weights = nn.ParameterList(nn.Parameter(torch.ones(num_members, o)) for o in widths[1:])
        self.ln_biases = nn.ParameterList(nn.Parameter(torch.zeros(num_members, o)) for o in widths[1:])
        num_heads = 1 if head == "shared" else num_members
        self.head_weight = nn.Parameter(_orthogonal_stack(num_heads, widths[-1], out_features, head_gain))
        self.head_bias = nn.Parameter(torch.zeros(num_heads, out_features))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, in]`` or ``[E, N, in]`` -> ``[E, N, out_features]``.

        ``members``: optional index ``[S]`` (int64, on the parameters' device) of the members to
        evaluate, in that order, repeats allowed; the output is then ``[S, N, out_features]``
        (and an ``[E, N, in]`` input must be ``[S, N, in]``). Evaluating only the S members a
        TD target reads saves (E - S) / E of its cost.
        """
        layer = ensemble_layer_triton if self.backend == "triton" else ensemble_layer_reference

        def pick(param: torch.Tensor) -> torch.Tensor:
            return param if members is None else param.index_select(0, members)

        h = x
        for w, b, g, beta in zip(self.weights, self.biases, self.ln_weights, self.ln_biases):
            h = layer(h, pick(w), pick(b), pick(g), pick(beta), self.ln_eps)
        if self.head == "shared":  # one head over every member: [S, N, hidden] @ [hidden, out]
            return torch.matmul(h, self.head_weight[0]) + self.head_bias[0]
        return torch.baddbmm(pick(self.head_bias).unsqueeze(1), h, pick(self.head_weight))


class EnsembleQCritic(TensorDictModuleBase):
    """Critic ensemble Q_1..Q_E(s, a), the Q-function of WSRL (Sec. 4) and Cal-QL.

    Reads ``observation`` ``[*B, obs_dim]`` and ``action`` ``[*B, action_dim]`` and writes
    ``state_action_value`` ``[E, *B, 1]``: :meth:`forward` returns a TensorDict whose batch
    size is ``[E, *B]`` (the inputs expanded, as TorchRL's vmapped critics do). The losses
    call :meth:`q_values` on tensors directly.

    Args:
        observation_dim, action_dim: input sizes.
        num_critics: E (10 in the paper).
        hidden_sizes: critic trunk widths (locomotion 2x256, antmaze 4x256, kitchen/adroit 3x512).
        backend, ln_eps, head_gain, head: see :class:`EnsembleMLP` (``head="shared"``: the
            authors' critic, one output head over the ensemble).
    """

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        num_critics: int = 10,
        hidden_sizes: Sequence[int] = (256, 256),
        *,
        backend: str = "eager",
        ln_eps: float = 1e-6,
        head_gain: float = 1.0,
        head: str = "per_critic",
        observation_key="observation",
        action_key="action",
        out_key="state_action_value",
    ):
        super().__init__()
        self.in_keys = [observation_key, action_key]
        self.out_keys = [out_key]
        self.num_critics = num_critics
        self.net = EnsembleMLP(
            observation_dim + action_dim,
            hidden_sizes,
            num_critics,
            1,
            ln_eps=ln_eps,
            head_gain=head_gain,
            backend=backend,
            head=head,
        )

    def q_values(
        self, observation: torch.Tensor, action: torch.Tensor, critics: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Q-values of every critic: ``[*B, obs] x [*B, act] -> [E, *B, 1]``.

        ``critics``: optional index ``[S]`` of the critics to evaluate (e.g. the target subset,
        drawn on the device); the output is then ``[S, *B, 1]``, row i the critic ``critics[i]``.

        Raises:
            ValueError: the batch shapes of ``observation`` and ``action`` differ.
        """
        if observation.shape[:-1] != action.shape[:-1]:
            raise ValueError(
                f"observation batch shape {tuple(observation.shape[:-1])} does not match "
                f"action batch shape {tuple(action.shape[:-1])}"
            )
        batch_shape = observation.shape[:-1]
        x = torch.cat([observation, action], dim=-1).reshape(-1, observation.shape[-1] + action.shape[-1])
        num_critics = self.num_critics if critics is None else critics.shape[0]
        return self.net(x, critics).reshape(num_critics, *batch_shape, 1)

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        q = self.q_values(tensordict.get(self.in_keys[0]), tensordict.get(self.in_keys[1]))
        out = tensordict.select(*self.in_keys).expand(self.num_critics, *tensordict.batch_size)
        return out.set(self.out_keys[0], q)


def critic_sizes(state: dict[str, torch.Tensor]) -> tuple[int, tuple[int, ...], str]:
    """``(num_critics, hidden_sizes, head)`` of the :class:`EnsembleQCritic` whose
    ``state_dict()`` is ``state``, read off its stacked weights (``net.biases.<i>``
    ``[E, width]``, ``net.head_weight`` ``[E or 1, width, 1]``).

    Raises:
        ValueError: no critic ensemble in ``state``.
    """
    biases = sorted((int(k.rsplit(".", 1)[1]), v) for k, v in state.items() if k.startswith("net.biases."))
    if not biases or "net.head_weight" not in state:
        raise ValueError(f"no critic ensemble (net.biases.<i>, net.head_weight) among {sorted(state)[:5]}")
    num_critics = biases[0][1].shape[0]
    head = "shared" if state["net.head_weight"].shape[0] == 1 < num_critics else "per_critic"
    return num_critics, tuple(bias.shape[-1] for _, bias in biases), head

"""Ensemble critic and tanh-Gaussian actor modules."""
from torchrl_wsrl.modules.actor import (
    POLICY_NETWORK_PATH, GaussianParams, SamplingPolicy, actor_from_state, actor_sizes, layernorm_mlp, make_actor, policy_network,
)
from torchrl_wsrl.modules.critic import EnsembleMLP, EnsembleQCritic, critic_sizes, resolve_backend

__all__ = [
    "EnsembleMLP", "EnsembleQCritic", "GaussianParams", "POLICY_NETWORK_PATH", "SamplingPolicy", "actor_from_state",
    "actor_sizes", "critic_sizes", "layernorm_mlp", "make_actor", "policy_network", "resolve_backend",
]

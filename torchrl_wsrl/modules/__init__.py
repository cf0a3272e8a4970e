"""Ensemble critic and tanh-Gaussian actor modules."""
from torchrl_wsrl.modules.actor import GaussianParams, SamplingPolicy, layernorm_mlp, make_actor
from torchrl_wsrl.modules.critic import EnsembleMLP, EnsembleQCritic, resolve_backend

__all__ = [
    "EnsembleMLP", "EnsembleQCritic", "GaussianParams", "SamplingPolicy", "layernorm_mlp", "make_actor", "resolve_backend",
]

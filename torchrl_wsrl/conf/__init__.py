"""Hydra configs of torchrl_wsrl.train (a package so that hydra can find it by module name)."""

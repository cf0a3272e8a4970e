#!/usr/bin/env bash
# d3rlpy 2.8.1 for benchmarks/test_bench_peers.py, in a separate virtual environment that sees
# this environment's packages (--system-site-packages) and adds d3rlpy and its small
# dependencies on top, so the project's environment is left as it is.
#
# Why a separate environment: d3rlpy 2.8.1 pins gymnasium==1.0.0, and we run gymnasium 1.4.
# d3rlpy is installed with --no-deps, then its other requirements (read from its own metadata,
# without torch and gymnasium) with their dependencies: gym 0.26 (d3rlpy imports gym.spaces),
# structlog, dataclasses-json (+ marshmallow 3, typing-inspect), scikit-learn (+ threadpoolctl;
# d3rlpy imports it for PRDC), click, colorama, h5py, tqdm. The benchmarks use only SAC and
# CalQL, whose code does not touch gymnasium; `import d3rlpy` works with gymnasium 1.4, and the
# environment's `pip check` then reports the one expected conflict:
#   d3rlpy 2.8.1 has requirement gymnasium==1.0.0, but you have gymnasium 1.4.0.
# The venv's own old setuptools (ensurepip's) is removed so that the system one, which torch
# requires (>= 77), stays visible.
#
# Usage (from the repository root; the environment's python must have the project installed):
#   bash benchmarks/peers/install.sh [VENV]          # VENV defaults to .venv-peers (git-ignored)
#   PYTHONPATH=$PWD .venv-peers/bin/python -m pytest benchmarks/test_bench_peers.py ...
# Remove it with `rm -rf .venv-peers`.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-.venv-peers}
python=${PYTHON:-python3}

"$python" -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip uninstall -q -y setuptools
"$venv/bin/python" -m pip install -q --no-deps d3rlpy==2.8.1
mapfile -t requirements < <("$venv/bin/python" - <<'PY'
from importlib.metadata import requires
from packaging.requirements import Requirement

for requirement in map(Requirement, requires("d3rlpy")):
    if requirement.name not in ("torch", "gymnasium"):
        print(requirement)
PY
)
"$venv/bin/python" -m pip install -q "${requirements[@]}"

# The environment's own packages must still be the ones it runs (none shadowed by the venv).
"$venv/bin/python" - "$venv" <<'PY'
import os
import sys

import d3rlpy, gymnasium, numpy, tensordict, torch, torchrl

venv = os.path.realpath(sys.argv[1])
for module in (gymnasium, numpy, tensordict, torch, torchrl):
    if os.path.realpath(module.__file__).startswith(venv):
        sys.exit(f"{module.__name__} {module.__version__} was installed into {venv}: it must come from the base environment")
print(f"d3rlpy {d3rlpy.__version__} with gymnasium {gymnasium.__version__}, torch {torch.__version__}, torchrl {torchrl.__version__}")
PY
echo "pip check (expected: d3rlpy's gymnasium==1.0.0 pin only):"
"$venv/bin/python" -m pip check || true

# Sourced from the project root by the scripts that run on a lent GPU machine (benchmarks/gpu.sh,
# docs/results/hopper-medium/paper_scale_check.sh): makes the project importable there without
# an install. The device image has torch, triton and pytest-benchmark; the other dependencies
# come as wheels (../shared/tools/device-wheels.sh here, then carry [".whl"]), installed into
# /tmp/site. Without an install, torchrl_wsrl.kernels (the top-level kernels/ folder, mapped by
# pyproject's package-dir) resolves through a link, left untracked (.git/info/exclude).
if [[ -d .whl ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-$PWD}
if ! python3 -c "import torchrl_wsrl.kernels" 2>/dev/null; then
  ln -sfn ../kernels torchrl_wsrl/kernels
  grep -qx 'torchrl_wsrl/kernels' .git/info/exclude 2>/dev/null || echo 'torchrl_wsrl/kernels' >> .git/info/exclude || true
fi

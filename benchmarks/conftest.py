"""Settings of the benchmark runs (``pytest benchmarks``; the default test run collects only
``tests/``): CPU threads, IEEE float32 (TF32 off unless ``BENCH_TF32=1``), and what the JSON
report records about the machine, and the per-FLOP summary of ``test_bench_peers.py`` (printed
at the end of the run, and written into the JSON report's ``extra_info``). Environment
variables: see common.py."""
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch._dynamo
import torch._inductor.config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.py, the tests' helpers
from common import MEASURED, QUICK, THREADS  # noqa: E402
from report import add_per_flop_figures, tables
from torchrl_wsrl.runtime import set_tf32, tf32_enabled

torch.set_num_threads(THREADS)
set_tf32(os.environ.get("BENCH_TF32", "0") == "1")  # benchmarks/gpu.sh runs the blocks with TF32 too
# Build inductor's C++ kernels in this process: on a 2-core machine a pool of compile workers
# costs more than it saves. Compilation time only, not the timed calls.
torch._inductor.config.compile_threads = 1


def _cpu_model() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def pytest_benchmark_update_machine_info(config, machine_info):
    import tensordict
    import torchrl

    machine_info["wsrl"] = {
        "cpu_model": _cpu_model(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "torchrl": torchrl.__version__,
        "tensordict": tensordict.__version__,
        "d3rlpy": _version("d3rlpy"),
        "threads": torch.get_num_threads(),
        "tf32": tf32_enabled(),
        "quick": QUICK,
        # glibc malloc tunables (see RESULTS.md): they change the cost of large allocations.
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
        "load_average_at_end": os.getloadavg(),
    }


def pytest_benchmark_update_json(config, benchmarks, output_json):
    add_per_flop_figures(output_json["benchmarks"])


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    measured = config.stash.get(MEASURED, [])
    if measured:
        terminalreporter.write_sep("-", "matmul work per second, ours and peers (test_bench_peers.py)")
        terminalreporter.write_line("\n".join(tables([stats.as_dict(include_data=False) for stats in measured])))


@pytest.fixture(autouse=True)
def _fresh_compile_caches():
    """Each benchmark compiles from scratch: the compiled closures of different benchmarks share
    one code object, and dynamo's per-code cache would otherwise fill up and fall back to eager."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()

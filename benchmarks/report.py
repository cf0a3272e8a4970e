"""Render a pytest-benchmark JSON report as the Markdown tables of RESULTS.md.

Usage: ``python benchmarks/report.py results.json``. Per group: the median time of each variant,
its ratio to the group's ``eager`` variant (> 1: slower) and the duration of its first call
(which includes compilation for compiled variants). Groups of ``test_bench_peers.py`` (rows
with a ``matmul_flop`` count) get the side-by-side table instead: matmul GFLOP, GFLOP/s and,
per row, our GFLOP/s over its GFLOP/s for each of our rows (``per_flop_ours_over_this``, > 1:
ours gets more of its matmul work done per second).
"""
import json
import sys


def variant(bench: dict) -> str:
    """``test_update_block[online-compiled]`` -> ``compiled``; ``test_peer_update[...]`` -> its
    ``variant`` parameter; the REDQ rows of earlier reports keep their name."""
    if "variant" in (bench.get("params") or {}):
        return bench["params"]["variant"]
    name, params = bench["name"].split("[", 1)
    label = params.rstrip("]").split("-", 1)[1] if "-" in params else params.rstrip("]")
    if "redq" in name:
        return f"torchrl REDQLoss ({label.split('-', 1)[-1] if label.startswith(('online', 'single')) else label})"
    # Critic benchmarks: [domain-rows-backend]; the group already names the domain and rows.
    return label.rsplit("-", 1)[-1] if bench["name"].startswith("test_critic") else label


def is_ours(bench: dict) -> bool:
    return variant(bench).startswith("ours")


def gflop_per_s(bench: dict) -> float:
    """Matmul GFLOP of one call over its median time (GFLOP per second)."""
    return bench["extra_info"]["matmul_flop"] / bench["stats"]["median"] / 1e9


def add_per_flop_figures(benches: list[dict]) -> None:
    """Write into the ``extra_info`` of each benchmark with a ``matmul_flop`` count its
    ``gflop_per_s`` and ``per_flop_ours_over_this``: ``{our variant: our GFLOP/s / its GFLOP/s}``
    over our rows of its group (benchmarks as in the JSON report: ``group``, ``params``,
    ``stats.median``, ``extra_info``)."""
    counted = [b for b in benches if "matmul_flop" in b["extra_info"]]
    for bench in counted:
        bench["extra_info"]["gflop_per_s"] = round(gflop_per_s(bench), 3)
    for bench in counted:
        ours = [b for b in counted if b["group"] == bench["group"] and is_ours(b)]
        bench["extra_info"]["per_flop_ours_over_this"] = {
            variant(o): round(o["extra_info"]["gflop_per_s"] / bench["extra_info"]["gflop_per_s"], 3) for o in ours
        }


def time_table(group: str, benches: list[dict]) -> list[str]:
    eager = next((b["stats"]["median"] for b in benches if variant(b) == "eager"), None)
    lines = [
        f"**{group}**",
        "",
        "| variant | median (ms) | vs eager | rounds | first call (s) | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for bench in sorted(benches, key=lambda b: b["stats"]["median"]):
        median = bench["stats"]["median"]
        ratio = f"{median / eager:.2f}" if eager else "-"
        extra = bench.get("extra_info", {})
        lines.append(
            f"| {variant(bench)} | {median * 1e3:.1f} | {ratio} | {bench['stats']['rounds']} | "
            f"{extra.get('first_call_s', float('nan')):.1f} | {extra.get('load_average_1min', float('nan')):.2f} |"
        )
    return lines


def peer_table(group: str, benches: list[dict]) -> list[str]:
    """Ours and the peers side by side; the ratio columns are :func:`add_per_flop_figures`'."""
    add_per_flop_figures(benches)
    ours = [variant(b) for b in benches if is_ours(b)]  # in the order they ran
    lines = [
        f"**{group}**",
        "",
        "| variant | median (ms) | matmul GFLOP | GFLOP/s | "
        + " | ".join(f"{o} / this, per FLOP" for o in ours)
        + " | rounds | load (1 min) |",
        "|---|" + "---:|" * (5 + len(ours)),
    ]
    for bench in sorted(benches, key=lambda b: b["stats"]["median"]):
        extra = bench["extra_info"]
        ratios = " | ".join(f"{extra['per_flop_ours_over_this'][o]:.2f}" for o in ours)
        lines.append(
            f"| {variant(bench)} | {bench['stats']['median'] * 1e3:.1f} | {extra['matmul_flop'] / 1e9:.2f} | "
            f"{extra['gflop_per_s']:.1f} | {ratios} | {bench['stats']['rounds']} | "
            f"{extra.get('load_average_1min', float('nan')):.2f} |"
        )
    return lines


E2E_COLUMNS = {  # extra_info key -> column of the end-to-end tables (test_bench_e2e.py)
    "env_steps_per_s": "env steps / s",
    "grad_steps_per_s": "gradient steps / s",
    "update_ms_per_env_step": "update block per env step (ms)",
    "update_ms": "update (ms)",
    "host_ms_per_env_step": "host per env step, outside the update (ms)",
    "share_outside_update": "share outside the update",
}


def e2e_table(group: str, benches: list[dict]) -> list[str]:
    """The figures of ``test_bench_e2e.py``, from ``extra_info`` (the timed phase itself is
    not the figure: it includes start-up, which the benchmark cancels out)."""
    columns = [k for k in E2E_COLUMNS if any(k in b["extra_info"] for b in benches)]
    lines = [f"**{group}**", "", "| variant | " + " | ".join(E2E_COLUMNS[k] for k in columns) + " |", "|---|" + "---:|" * len(columns)]
    for bench in benches:
        values = [bench["extra_info"].get(k) for k in columns]
        cells = ["-" if v is None else (f"{100 * v:.1f}%" if k == "share_outside_update" else f"{v:.2f}") for k, v in zip(columns, values)]
        lines.append(f"| {bench['name'].split('[', 1)[-1].rstrip(']')} | " + " | ".join(cells) + " |")
    return lines


def tables(benches: list[dict]) -> list[str]:
    """One Markdown table per benchmark group, in the order the groups first appear."""
    groups: dict[str, list[dict]] = {}
    for bench in benches:
        groups.setdefault(bench["group"], []).append(bench)
    lines = []
    for group, members in groups.items():
        if group.startswith("end to end"):
            table = e2e_table
        elif all("matmul_flop" in b["extra_info"] for b in members):
            table = peer_table
        else:
            table = time_table
        lines += table(group, members) + [""]
    return lines


def render(report: dict) -> str:
    info = report["machine_info"].get("wsrl", {})
    lines = [
        f"Machine: {info.get('cpu_model')} ({report['machine_info'].get('cpu', {}).get('count', '?')} CPUs), "
        f"GPU: {info.get('gpu') or 'none'}; torch {info.get('torch')}, torchrl {info.get('torchrl')}, "
        f"tensordict {info.get('tensordict')}{', d3rlpy ' + info['d3rlpy'] if info.get('d3rlpy') else ''}; threads {info.get('threads')}; TF32 {'on' if info.get('tf32') else 'off'}; "
        f"load average at the end {tuple(round(x, 2) for x in info.get('load_average_at_end', ()))}.",
        "",
    ]
    return "\n".join(lines + tables(report["benchmarks"]))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(render(json.load(f)))

"""Render a pytest-benchmark JSON report as the Markdown tables of RESULTS.md.

Usage: ``python benchmarks/report.py results.json``. Per group: the median time of each variant,
its ratio to the group's ``eager`` variant (> 1: slower) and the duration of its first call
(which includes compilation for compiled variants).
"""
import json
import sys


def variant(bench: dict) -> str:
    """``test_update_block[online-compiled]`` -> ``compiled``; the REDQ rows keep their name."""
    name, params = bench["name"].split("[", 1)
    label = params.rstrip("]").split("-", 1)[1] if "-" in params else params.rstrip("]")
    if "redq" in name:
        return f"torchrl REDQLoss ({label.split('-', 1)[-1] if label.startswith(('online', 'single')) else label})"
    # Critic benchmarks: [domain-rows-backend]; the group already names the domain and rows.
    return label.rsplit("-", 1)[-1] if bench["name"].startswith("test_critic") else label


def render(report: dict) -> str:
    info = report["machine_info"].get("wsrl", {})
    lines = [
        f"Machine: {info.get('cpu_model')} ({report['machine_info'].get('cpu', {}).get('count', '?')} CPUs), "
        f"GPU: {info.get('gpu') or 'none'}; torch {info.get('torch')}, torchrl {info.get('torchrl')}, "
        f"tensordict {info.get('tensordict')}; threads {info.get('threads')}; TF32 {'on' if info.get('tf32') else 'off'}; "
        f"load average at the end {tuple(round(x, 2) for x in info.get('load_average_at_end', ()))}.",
        "",
    ]
    groups: dict[str, list[dict]] = {}
    for bench in report["benchmarks"]:
        groups.setdefault(bench["group"], []).append(bench)
    for group, benches in groups.items():
        eager = next((b["stats"]["median"] for b in benches if variant(b) == "eager"), None)
        lines += [f"**{group}**", "", "| variant | median (ms) | vs eager | rounds | first call (s) | load (1 min) |", "|---|---:|---:|---:|---:|---:|"]
        for bench in sorted(benches, key=lambda b: b["stats"]["median"]):
            median = bench["stats"]["median"]
            ratio = f"{median / eager:.2f}" if eager else "-"
            extra = bench.get("extra_info", {})
            lines.append(
                f"| {variant(bench)} | {median * 1e3:.1f} | {ratio} | {bench['stats']['rounds']} | "
                f"{extra.get('first_call_s', float('nan')):.1f} | {extra.get('load_average_1min', float('nan')):.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(render(json.load(f)))

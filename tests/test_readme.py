"""The README's Python example runs as written (the shipped agent, rolled out for one episode)."""
import contextlib
import io
import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(section: str) -> str:
    text = README.read_text()
    body = text[text.index(f"## {section}"):]
    return re.search(r"```python\n(.*?)```", body, re.S).group(1)


def test_the_trained_agent_example_runs():
    torch.set_num_threads(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(python_block("Using a trained agent"), str(README), "exec"), {})
    episode_return = float(out.getvalue().strip().splitlines()[-1].removeprefix("tensor(").split(")")[0].split(",")[0])
    assert episode_return > 3000  # the shipped halfcheetah-medium-replay agent: ~5,100 (normalized ~44)

"""Profiles taken in the same run as the figures, for the scenarios whose goals depend on them:
``python -X importtime`` (what start-up imports) and py-spy (where a whole command spends its time).

py-spy is optional (``pip install py-spy``); without it the profile says so and the figures still run.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import BIN, run

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_times(cmd: Sequence[str], env: dict[str, str], cwd: Path, *, top: int = 12) -> list[str]:
    """The modules with the largest cumulative import time (top-level and one level down)."""
    result = run([sys.executable, "-X", "importtime", *cmd], env=env, cwd=cwd, check=False)
    rows = []
    for line in result.err.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            rows.append((int(match.group(2)), depth, match.group(4)))
    rows = [r for r in rows if r[1] <= 1]
    total = sum(us for us, depth, _ in rows if depth == 0)
    shown = sorted(rows, reverse=True)[:top]
    lines = [f"imports in total: {total / 1000:.0f} ms (cumulative, top-level modules)"]
    lines += [f"{us / 1000:6.1f} ms  {'  ' * depth}{name}" for us, depth, name in shown]
    return lines


def py_spy_top(
    cmd: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    *,
    top: int = 15,
    match: str = r"cipub|typer|pydantic|jsonschema|httpx|conda_package_streaming|import",
) -> list[str]:
    """Inclusive share of samples per function (py-spy, 250 Hz), filtered to the interesting frames."""
    py_spy = BIN / "py-spy"
    if not py_spy.exists() and not shutil.which("py-spy"):
        return ["py-spy is not installed here (pip install py-spy): no profile"]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        result = run(
            [
                str(py_spy) if py_spy.exists() else "py-spy",
                "record",
                "-o",
                str(raw),
                "-f",
                "raw",
                "-r",
                "250",
                "--",
                *cmd,
            ],
            env=env,
            cwd=cwd,
            check=False,
        )
        if not raw.is_file():
            return [f"py-spy failed: {result.err[-300:]}"]
        inclusive: Counter[str] = Counter()
        total = 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            seen = set()
            for frame in stack.split(";"):
                name, _, where = frame.partition(" (")
                location = where.split(":")[0]
                key = f"{name} ({Path(location).parent.name}/{Path(location).name})" if location else name
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += n
    pattern = re.compile(match)
    wanted = [(n, k) for k, n in inclusive.items() if pattern.search(k) and "<module>" not in k.split(" (")[0]]
    imports = inclusive.get("_find_and_load (<frozen importlib._bootstrap>)", 0) or sum(
        n for k, n in inclusive.items() if k.startswith("_find_and_load ")
    )
    lines = [f"py-spy: {total} samples; imports: {100 * imports / max(1, total):.0f}% of them"]
    lines += [f"{100 * n / max(1, total):5.1f}%  {k}" for n, k in sorted(wanted, reverse=True)[:top]]
    return lines

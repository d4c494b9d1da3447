"""B4: start-up. ``cipub --help`` vs ``anaconda --help`` vs ``python -c pass`` (the floor).

anaconda-client is measured as installed (its default entry point loads the anaconda-cli-base
plugin host) and with its documented ``ANACONDA_CLIENT_FORCE_STANDALONE`` escape hatch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ANACONDA, CIPUB, Series, anaconda_env, base_env, run
from benchmarks.profiling import import_times


def measure(work: Path, *, runs: int) -> dict[str, Any]:
    env = base_env({"HOME": str(work / "home")})
    commands = {
        "python -c pass (floor)": ([sys.executable, "-c", "pass"], env),
        "cipub --help": ([CIPUB, "--help"], env),
        "cipub --version": ([CIPUB, "--version"], env),
        "anaconda --help": ([ANACONDA, "--help"], anaconda_env(work / "ac", "http://127.0.0.1:9")),
        "anaconda --help (standalone)": (
            [ANACONDA, "--help"],
            anaconda_env(work / "ac2", "http://127.0.0.1:9", standalone=True),
        ),
    }
    for cmd, e in commands.values():  # warm the page cache and .pyc files once
        run(cmd, env=e)
    series = {name: Series("start-up", name) for name in commands}
    for _ in range(runs):  # interleaved, so a noisy moment hits every tool alike
        for name, (cmd, e) in commands.items():
            series[name].seconds.append(run(cmd, env=e).seconds)
    floor = series["python -c pass (floor)"].median_s
    mine = series["cipub --help"].median_s
    budget = 1.5 * floor + 0.150
    ratios = [
        {
            "what": f"cipub --help vs 1.5 x floor + 150 ms (= {budget * 1000:.0f} ms)",
            "value": round(mine, 3),
            "goal": f"<= {budget:.3f} s",
            "met": mine <= budget,
        },
        {
            "what": "cipub --help / anaconda --help",
            "value": round(mine / series["anaconda --help"].median_s, 3),
            "goal": None,
            "met": None,
        },
    ]
    profile = import_times(["-m", "cipub", "--help"], env, work)
    return {
        "id": "B4",
        "profile": ["python -X importtime -m cipub --help:", *profile],
        "title": "Start-up time",
        "rows": [s.as_dict() for s in series.values()],
        "ratios": ratios,
        "setup": f"Each command {runs} times, interleaved, after one warm-up run each; wall time of the process.",
    }

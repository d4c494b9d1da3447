"""B4: start-up. ``cipub --help`` vs ``anaconda --help`` vs ``python -c pass`` (the floor), and two
real commands, which parse every option and start real work: ``cipub promote`` of a missing manifest
(fails at the first read, exit 2) and ``cipub plan`` of the starter recipe (reads it through
py-rattler-build), each against the floor measured interleaved with it.

anaconda-client is measured as installed (its default entry point loads the anaconda-cli-base
plugin host) and with its documented ``ANACONDA_CLIENT_FORCE_STANDALONE`` escape hatch.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ANACONDA, CIPUB, REPO, Series, anaconda_env, base_env, run
from benchmarks.profiling import import_times


def measure(work: Path, *, runs: int) -> dict[str, Any]:
    env = base_env({"HOME": str(work / "home")})
    tiny = work / "tiny"
    shutil.copytree(REPO / "recipes-template" / "v1-noarch-generic", tiny)
    missing = ["--manifest", str(work / "missing.json"), "--target", str(work / "channel")]
    commands = {
        "python -c pass (floor)": ([sys.executable, "-c", "pass"], env),
        "cipub --help": ([CIPUB, "--help"], env),
        "cipub --version": ([CIPUB, "--version"], env),
        "cipub promote (missing manifest)": ([CIPUB, "promote", *missing], env),
        "cipub plan (starter recipe)": ([CIPUB, "plan", str(tiny), "--target", str(work / "channel")], env),
        "anaconda --help": ([ANACONDA, "--help"], anaconda_env(work / "ac", "http://127.0.0.1:9")),
        "anaconda --help (standalone)": (
            [ANACONDA, "--help"],
            anaconda_env(work / "ac2", "http://127.0.0.1:9", standalone=True),
        ),
    }
    for cmd, e in commands.values():  # warm the page cache and .pyc files once
        run(cmd, env=e, cwd=work, check=False)
    series = {name: Series("start-up", name) for name in commands}
    for _ in range(runs):  # interleaved, so a noisy moment hits every tool alike
        for name, (cmd, e) in commands.items():
            series[name].seconds.append(run(cmd, env=e, cwd=work, check=False).seconds)
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
        *[
            {
                "what": f"{name} - floor, seconds (start-up cipub adds)",
                "value": round(series[name].median_s - floor, 3),
                "goal": "<= 0.120 s" if "promote" in name else None,
                "met": (series[name].median_s - floor <= 0.120) if "promote" in name else None,
            }
            for name in ("cipub promote (missing manifest)", "cipub plan (starter recipe)")
        ],
        {
            "what": "cipub --help / anaconda --help",
            "value": round(mine / series["anaconda --help"].median_s, 3),
            "goal": None,
            "met": None,
        },
    ]
    profile = import_times(["-m", "cipub", "--help"], env, work)
    promote_profile = import_times(["-m", "cipub", "promote", *missing], env, work)
    return {
        "id": "B4",
        "profile": [
            "python -X importtime -m cipub --help:",
            *profile,
            "",
            "python -X importtime -m cipub promote (missing manifest):",
            *promote_profile,
        ],
        "title": "Start-up time",
        "rows": [s.as_dict() for s in series.values()],
        "ratios": ratios,
        "setup": f"Each command {runs} times, interleaved, after one warm-up run each; wall time of the process.",
    }

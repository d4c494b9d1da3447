"""Run the benchmarks and write ``docs/benchmarks.md`` (and the raw figures as JSON next to it).

    python -m benchmarks              # the full set (about 10-15 minutes here)
    python -m benchmarks --quick      # smaller sizes, fewer runs: under 3 minutes; what CI runs
    python -m benchmarks --only B1,B4 --out /tmp/b.md

Every scenario measures cipub and its peers in the same run, on servers bound to 127.0.0.1, and
reports medians and the cipub/peer ratios against the goals. Nothing here passes or fails on time:
the exit status is 0 whenever every scenario could be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.common import REPO


def _scenarios(quick: bool) -> dict[str, Callable[[Path], dict[str, Any]]]:
    from benchmarks import (
        b1_upload,
        b2_promote,
        b3_lookup,
        b4_startup,
        b5_memory,
        b6_plan,
        b7_build,
        b8_local_loop,
        b10_plan_scale,
    )

    return {
        "B1": lambda w: b1_upload.measure(w, packages=20 if quick else 100, runs=1 if quick else 3),
        "B2": lambda w: b2_promote.measure(w, files=5 if quick else 100, runs=1 if quick else 2),
        "B3": lambda w: b3_lookup.measure(w, sizes=(1_000, 10_000, 100_000), runs=3 if quick else 5),
        "B4": lambda w: b4_startup.measure(w, runs=5 if quick else 15),
        "B5": lambda w: b5_memory.measure(w, sizes_mib=(512,) if quick else (512, 1024), runs=1),
        "B6": lambda w: b6_plan.measure(w, runs=2 if quick else 5),
        "B7": lambda w: b7_build.measure(w, runs=1 if quick else 3, mid_size=not quick),
        "B8": lambda w: b8_local_loop.measure(w, sizes=(10, 100, 1_000), runs=1 if quick else 3),
        "B10": lambda w: b10_plan_scale.measure(
            w, sizes=(10, 100, 1_000) if quick else (10, 100, 1_000, 3_000), runs=3 if quick else 5
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs (under 3 minutes)")
    parser.add_argument("--only", help="comma-separated scenario ids, e.g. B1,B4")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--results", type=Path, help="raw figures (default: next to --out, .json)")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only re-render --out from an earlier run's JSON")
    opts = parser.parse_args(argv)
    if opts.render:
        opts.out.write_text(report.markdown(json.loads(opts.render.read_text(encoding="utf-8"))), encoding="utf-8")
        print(f"wrote {opts.out} from {opts.render}")
        return 0
    scenarios = _scenarios(opts.quick)
    wanted = [s.strip().upper() for s in opts.only.split(",")] if opts.only else list(scenarios)
    started = time.time()
    load_at_start = _load()
    results: list[dict[str, Any]] = []
    failures = 0
    with tempfile.TemporaryDirectory(prefix="cipub-bench-") as tmp:
        for sid in wanted:
            work = Path(tmp) / sid
            work.mkdir()
            t0 = time.time()
            load_before = _load()
            print(f"[{sid}] running...", flush=True)
            try:
                result = scenarios[sid](work)
            except Exception as exc:  # a scenario that cannot run is reported, the others still run
                failures += 1
                result = {
                    "id": sid,
                    "title": "not measured",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-4000:],
                }
            result["seconds"] = round(time.time() - t0, 1)
            result["load"] = [load_before, _load()]
            results.append(result)
            print(report.console(result), flush=True)
    doc = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "mode": "quick" if opts.quick else "full",
        "command": "python -m benchmarks" + (" --quick" if opts.quick else ""),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            # other work on the machine skews seconds more than ratios (each pair is interleaved)
            "load_average": [load_at_start, _load()],
            "commit": _commit(),
        },
        "scenarios": results,
    }
    results_path = opts.results or opts.out.with_suffix(".json")
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    opts.out.write_text(report.markdown(doc), encoding="utf-8")
    print(f"wrote {opts.out} and {results_path} in {doc['duration_s']} s")
    return 1 if failures else 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())


def _load() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _commit() -> str | None:
    """The commit measured (None outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
        )
    except OSError:
        return None
    return out.stdout.strip() or None

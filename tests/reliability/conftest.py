"""Fixtures of the reliability suite, and the hook that writes its figures."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import figures

_started = time.time()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    results = figures.snapshot()
    target = os.environ.get("RELIABILITY_RESULTS")
    if not target or not results:
        return
    doc: dict[str, Any] = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "duration_s": round(time.time() - _started, 1),
        "pytest_exit_status": int(exitstatus),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "results": results,
    }
    Path(target).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    results = figures.snapshot()
    if not results:
        return
    terminalreporter.section("reliability figures")
    for section, cases in sorted(results.items()):
        for case, values in sorted(cases.items()):
            shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items()) if not isinstance(v, (dict, list)))
            terminalreporter.write_line(f"{section:<12} {case:<28} {shown}")

"""The figures the reliability suite measures, collected while it runs and written as JSON.

Tests call :func:`record`; the suite's ``conftest.py`` writes everything recorded to the file named
by the ``RELIABILITY_RESULTS`` environment variable when the session ends (and prints a summary).
``python -m tests.reliability.report`` runs the suite that way and renders ``docs/reliability.md``.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
#: section -> case -> figures
_results: dict[str, dict[str, dict[str, Any]]] = {}


def record(section: str, case: str, **figures: Any) -> None:
    """Store (or add to) the figures of one case; numbers given again are summed."""
    with _lock:
        slot = _results.setdefault(section, {}).setdefault(case, {})
        for key, value in figures.items():
            old = slot.get(key)
            if isinstance(old, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool):
                slot[key] = old + value
            elif isinstance(old, dict) and isinstance(value, dict):
                for k, v in value.items():
                    old[k] = old.get(k, 0) + v
            else:
                slot[key] = value


def snapshot() -> dict[str, dict[str, dict[str, Any]]]:
    with _lock:
        return {s: {c: dict(f) for c, f in cases.items()} for s, cases in _results.items()}

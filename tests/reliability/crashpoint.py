"""Run cipub, killing itself with SIGKILL at a chosen point: the N-th call of some function.

    python -m tests.reliability.crashpoint --at os.link --at httpx.Client.send --nth 3 --after \\
        -- upload --manifest m.json --target ./chan

Random-time kills (``test_crash.py``) sample the run; this visits every step of it: with ``--nth 0``
nothing is killed and the number of calls is written to ``--count-file``, so a test can then kill
before and after each call in turn (each write to the disk, each HTTP request). cipub itself is not
changed: the functions are wrapped in this process before ``cipub.cli.main`` runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _resolve(dotted: str) -> tuple[Any, str]:
    """``pkg.mod.Class.method`` -> (Class, "method"), importing the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1]
    raise SystemExit(f"crashpoint: cannot resolve {dotted!r}")


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _counts(args: tuple[Any, ...], writes_only: bool) -> bool:
    """With ``writes_only``, an HTTP call counts only if it may change the server (not GET/HEAD)."""
    if not writes_only:
        return True
    methods = [getattr(a, "method", None) for a in args]
    http = [m for m in methods if isinstance(m, str)]
    return not http or any(m.upper() in _WRITES for m in http)


def install(points: list[str], nth: int, after: bool, calls: list[int], writes_only: bool = False) -> None:
    for dotted in points:
        owner, attr = _resolve(dotted)
        original: Callable[..., Any] = getattr(owner, attr)

        def wrapper(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            if not _counts(args, writes_only):
                return _original(*args, **kwargs)
            calls[0] += 1
            hit = calls[0] == nth
            if hit and not after:
                os.kill(os.getpid(), signal.SIGKILL)
            result = _original(*args, **kwargs)
            if hit and after:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(owner, attr, wrapper)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="crashpoint")
    parser.add_argument("--at", action="append", required=True, help="dotted function to count (repeatable)")
    parser.add_argument("--nth", type=int, default=0, help="kill at this call (0: never)")
    parser.add_argument("--after", action="store_true", help="kill right after the call returns")
    parser.add_argument("--count-file", type=Path, help="write the number of calls here at exit")
    parser.add_argument("--writes-only", action="store_true", help="count only HTTP requests that write")
    opts = parser.parse_args(argv[:split])
    calls = [0]
    install(opts.at, opts.nth, opts.after, calls, opts.writes_only)
    from cipub.cli import main as cipub_main

    try:
        return cipub_main(argv[split + 1 :])
    finally:
        if opts.count_file is not None:
            opts.count_file.write_text(str(calls[0]))


if __name__ == "__main__":
    sys.exit(main())

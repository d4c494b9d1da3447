"""The py-rattler-build call, run in a child Python process by :mod:`cipub.engines.rattler_build`.

Why a child: ``build_recipes`` and ``Package.run_tests`` hold the GIL for the whole build, so in the
CLI's own process no signal handler, log follower or heartbeat could run until the build ended (a
Ctrl-C during a 20-minute build would wait 20 minutes). In a child of its own session the parent
stays responsive and can stop the whole build (the script's processes too) at once.

Protocol: one JSON request on stdin (in a container: in the file named by the first argument);
JSON lines on stdout (``{"event": "log"|"error"|"test-failed"
|"done", ...}``). Anything else on stdout/stderr (the engine's own prints) is log text.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess


def start(env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start this worker (None: with this process's environment); it waits for its request on stdin.

    Called by the parent (:mod:`cipub.engines.rattler_build`); kept here, beside the protocol, so a
    build can start its worker before importing the engine and its recipe readers (issue 12, B7)."""
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-m", "cipub.engines._rattler_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        # its own session: a signal for cipub is not sent to the build too; cipub stops the whole
        # session itself (the build script's processes with it)
        start_new_session=True,
        env=env,
    )


def start_ahead() -> subprocess.Popen[str]:
    """Start the worker before its build is known: with the environment the build gets once
    ``isolate_secrets_for_build`` has run (no secret variable), computed now. It runs nothing until
    its request comes; give it to :class:`~cipub.engines.rattler_build.RattlerBuildEngine`, which
    ends it (``close``) if no build does."""
    from cipub.core.secrets import environ_for_build

    return start(environ_for_build())


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class _LogLines:
    """py-rattler-build's progress callback: every log line goes to the parent as it happens."""

    def on_log(self, event: Any) -> None:
        for line in str(event.message).splitlines() or [""]:
            _emit("log", line=line, level=str(event.level))

    def on_build_step(self, event: Any) -> None:
        _emit("log", line=f"{event.step_name}: {event.message}", level="info")

    def on_download_start(self, event: Any) -> None:
        pass

    def on_download_progress(self, event: Any) -> None:
        pass

    def on_download_complete(self, event: Any) -> None:
        pass


def _build(request: dict[str, Any]) -> list[Path]:
    import rattler_build

    from cipub.engines.base import new_package_files, package_files

    output_dir = Path(request["output_dir"])
    before = package_files(output_dir)
    with warnings.catch_warnings():
        # build_recipes is deprecated upstream in favour of Stage0Recipe.render() + run_build(),
        # but only build_recipes can override the build number (build_num); the staged API cannot.
        warnings.simplefilter("ignore", DeprecationWarning)
        rattler_build.build_recipes(
            [request["recipe"]],
            output_dir=output_dir,
            build_num=request["build_num"],
            variant_config=request["variant_config"] or None,
            variant_overrides=request["variant_overrides"] or None,
            target_platform=request["target_platform"],
            channel=request["channel"],
            # tests run below, package by package, so their output streams and a failure names its test
            test="skip",
            no_build_id=True,
            # the parent reads the script's log after the build too, then removes the folder itself
            keep_build=True,
        )
    return new_package_files(output_dir, before)


def _test(packages: list[Path], channels: list[str]) -> bool:
    """Run every package's recipe tests; report the first failing one. True when all passed."""
    from rattler_build import Package

    from cipub.core.artifact import carries_recipe_tests

    for path in packages:
        if not carries_recipe_tests(path):
            _emit("log", line=f"{path.name}: no recipe tests", level="info")
            continue
        _emit("log", line=f"testing {path.name}", level="info")
        results = Package.from_file(path).run_tests(channel=channels, progress_callback=_LogLines())
        for result in results:
            if not result.success:
                _emit(
                    "test-failed",
                    package=str(path),
                    index=result.test_index,
                    count=len(results),
                    output=list(result.output),
                )
                return False
    return True


def main() -> int:
    # Imported before the request is read: a worker started ahead of its build (RattlerBuildEngine
    # .prestart) does this while cipub is still reading the recipe. A failure is reported below.
    with contextlib.suppress(Exception):
        import rattler_build  # noqa: F401
    # the request: a file named on the command line (in a container), else stdin
    text = Path(sys.argv[1]).read_text(encoding="utf-8") if len(sys.argv) > 1 else sys.stdin.read()
    if not text.strip():
        return 0  # started ahead, and cipub ended before it had a build to give
    request = json.loads(text)
    try:
        built = _build(request)
        if request["run_tests"] and built and not _test(built, request["test_channels"]):
            return 1
    except Exception as exc:  # py-rattler-build's own exception types: the parent translates them
        _emit("error", kind=type(exc).__name__, message=str(exc))
        return 1
    _emit("done", built=[str(p) for p in built])
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # no interpreter finalisation: py-rattler's tokio threads can crash it (see cipub.cli.run)
    os._exit(code)

"""rattler-build through py-rattler-build: the default engine, needs no conda at all.

py-rattler-build runs in a child Python process (:mod:`cipub.engines._rattler_worker`), because it
holds the GIL for the whole build: here the parent stays free to stream the log as it is written
(the build script's ``conda_build.log`` and the recipe tests' output), to print a heartbeat, and to
stop the build at once on SIGINT/SIGTERM. Recipe tests run by default, as rattler-build's own CLI
does; a failing one is exit 4 with its output, and its package is moved to ``OUT/broken/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from cipub.core.errors import BuildFailedError, CipubError, NetworkError, RecipeError, UsageError
from cipub.core.secrets import scrub
from cipub.engines import _rattler_worker
from cipub.engines.base import (
    BUILD_LOG,
    CONVERT_HINT,
    BuildRequest,
    FileStamp,
    effective_variant_files,
    engine_channels,
    file_pinned_keys,
    new_package_files,
    package_files,
    unreachable_channel,
)
from cipub.recipe import v1

#: how many of the log's last lines a failure prints
TAIL_LINES = 25
_RECIPE_ERRORS = ("RecipeParseError", "VariantError", "PlatformParseError")
#: what rattler-build says when it could not make an environment (a network failure among the causes)
_ENVIRONMENT_FAILURES = ("failed to setup test environment", "Failed to resolve dependencies")


class RattlerBuildEngine:
    """Build a ``recipe.yaml`` with py-rattler-build's ``build_recipes``, then run its tests."""

    name = "rattler-build"

    def __init__(self, worker: subprocess.Popen[str] | None = None) -> None:
        """``worker``: this engine's worker process, started ahead of the build
        (:func:`cipub.engines._rattler_worker.start_ahead`, issue 12, B7): :meth:`build` gives it
        the request, :meth:`close` ends it if no build comes. Without one, the build starts its own."""
        self._worker = worker

    def close(self) -> None:
        """End a pre-started worker that was given no build (it has run nothing)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            _stop(worker)
            for stream in (worker.stdin, worker.stdout):
                if stream is not None:
                    stream.close()

    def build(self, request: BuildRequest) -> list[Path]:
        recipe = request.recipe
        if recipe.format != "v1":
            raise UsageError(
                f"{recipe.path}: rattler-build builds recipe.yaml (v1) recipes, not meta.yaml",
                hint="use --engine conda-build, or " + CONVERT_HINT,
            )
        output_dir = request.output_dir.resolve()
        output_dir.mkdir(parents=True, exist_ok=True)
        # Parse first: build_recipes only says "Failed to parse recipe", this names file and line.
        v1.parse_stage0(recipe.path)
        before = package_files(output_dir)
        with (
            tempfile.TemporaryDirectory(prefix="cipub-rattler-build-") as scratch,
            BuildLog(output_dir / BUILD_LOG, request.log) as log,
        ):
            variant_files = effective_variant_files(request, Path(scratch))
            worker_request = _worker_request(request, output_dir, variant_files)
            worker, self._worker = self._worker, None
            _run_worker(worker or _rattler_worker.start(), worker_request, log, request, before)
        built = new_package_files(output_dir, before)
        if not built:
            raise BuildFailedError(
                f"rattler-build produced no package for {recipe.path}",
                hint="every output may be skipped on this platform (build: skip), "
                "or the variant overrides select nothing",
            )
        return built


def _worker_request(request: BuildRequest, output_dir: Path, variant_files: list[Path]) -> dict[str, Any]:
    in_file = set(file_pinned_keys(request))
    # channel_sources in the variant config name the build's channels (rattler-build refuses both)
    channels, test_channels = engine_channels(request)
    return {
        "recipe": str(request.recipe.path),
        "output_dir": str(output_dir),
        "build_num": request.build_number,
        "variant_config": [str(p) for p in variant_files],
        # what a variant file pins instead (values that must stay ints or booleans) is no override
        "variant_overrides": {
            k: [str(v) for v in vs] for k, vs in request.variant_overrides.items() if k not in in_file
        },
        "target_platform": request.target_platform,
        "channel": channels,
        "run_tests": request.run_tests,
        # the output folder first: the package under test and its siblings are there (offline too)
        "test_channels": [output_dir.as_uri(), *test_channels],
    }


class BuildLog:
    """The build's log: saved to a file, its tail kept for the failure message, each line echoed."""

    def __init__(self, path: Path, echo: Any) -> None:
        self.path = path
        self._echo = echo
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._file: IO[str] | None = None

    def __enter__(self) -> BuildLog:
        self._file = self.path.open("w", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def line(self, text: str) -> None:
        # a build script can print anything from its environment: known secrets never pass
        text = scrub(text.rstrip("\r\n"))
        if self._file is not None:
            self._file.write(text + "\n")
            self._file.flush()
        self._tail.append(text)
        if self._echo is not None:
            self._echo(text)

    def tail(self) -> tuple[str, ...]:
        return tuple(self._tail)


class ScriptLogFollower:
    """Follows the build scripts' ``OUT/bld/*/work/conda_build.log`` files as rattler-build writes
    them (build_recipes reports nothing while it runs; the script's output lands there)."""

    def __init__(self, bld: Path) -> None:
        self._bld = bld
        # Logs left by earlier builds go: rattler-build recreates its work folder, and a new file
        # can get the old one's inode and size (same script, same output), so it could not be told
        # from the old. Whatever exists from now on is this build's.
        for old in self._files():
            with contextlib.suppress(OSError):
                old.unlink()
        self._seen: dict[Path, tuple[int, int]] = {}
        self._partial: dict[Path, str] = {}

    def _files(self) -> list[Path]:
        return sorted(self._bld.glob("*/work/conda_build.log")) if self._bld.is_dir() else []

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int]:
        try:
            stat = path.stat()
        except OSError:
            return (0, 0)
        return (stat.st_ino, stat.st_size)

    def build_folders(self) -> list[Path]:
        """The build folders whose logs were followed (``OUT/bld/rattler-build_NAME``)."""
        return sorted({path.parent.parent for path in self._seen})

    def poll(self, *, final: bool = False) -> list[str]:
        lines: list[str] = []
        for path in self._files():
            inode, size = self._stamp(path)
            seen_inode, offset = self._seen.get(path, (inode, 0))
            if inode != seen_inode or size < offset:
                offset = 0  # rewritten by a new build
            if size > offset:
                try:
                    with path.open("rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read(size - offset).decode("utf-8", errors="replace")
                except OSError:
                    continue
                text = self._partial.pop(path, "") + chunk
                *complete, rest = text.split("\n")
                lines.extend(complete)
                if rest:
                    self._partial[path] = rest
            self._seen[path] = (inode, size)
        if final:
            lines.extend(self._partial.values())
            self._partial.clear()
        return lines


class PackageWatch:
    """Tells ``on_package`` of each package file that appears (or is rewritten) in the output
    folder while the build runs, looked for at most every ``every`` seconds."""

    def __init__(
        self,
        output_dir: Path,
        before: Mapping[Path, FileStamp],
        on_package: Callable[[Path], None] | None,
        every: float = 0.1,
    ) -> None:
        self._output_dir = output_dir
        self._known: dict[Path, FileStamp] = dict(before)
        self._on_package = on_package
        self._every = every
        self._last = 0.0

    def poll(self) -> None:
        if self._on_package is None:
            return
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        for path, stamp in package_files(self._output_dir).items():
            if self._known.get(path) != stamp:
                self._known[path] = stamp
                self._on_package(path)


def _read_lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _run_worker(
    proc: subprocess.Popen[str],
    worker_request: dict[str, Any],
    log: BuildLog,
    request: BuildRequest,
    before: Mapping[Path, FileStamp],
) -> None:
    output_dir = Path(worker_request["output_dir"])
    try:
        follower = ScriptLogFollower(output_dir / "bld")
        watch = PackageWatch(output_dir, before, request.on_package)
    except BaseException:
        _stop(proc)  # started ahead, it must not outlive a build that cannot run
        raise
    assert proc.stdin is not None and proc.stdout is not None
    events: list[dict[str, Any]] = []
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True, name="cipub-build-log")
    try:
        proc.stdin.write(json.dumps(worker_request))
        proc.stdin.close()
        reader.start()
        if request.on_started is not None:
            request.on_started()
        while True:
            try:
                raw = lines.get(timeout=0.1)
            except queue.Empty:
                raw = ""
            for text in follower.poll():
                log.line(text)
            watch.poll()
            if raw is None:
                break
            if raw:
                _take(raw, log, events)
        proc.wait()
        for text in follower.poll(final=True):
            log.line(text)
    except BaseException:
        _stop(proc)  # SIGINT, SIGTERM: the build stops now, not when it would have finished
        raise
    _raise_for(events, proc.returncode, log, request)
    # Built and tested: the build folders go, as rattler-build removes them (kept after a failure,
    # where rattler-build's hint points into them).
    for folder in follower.build_folders():
        shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # the output dir's index leaves its empty scratch folder
        (output_dir / ".tmp").rmdir()


def _take(raw: str, log: BuildLog, events: list[dict[str, Any]]) -> None:
    try:
        event = json.loads(raw)
    except ValueError:
        event = None
    if not isinstance(event, dict) or "event" not in event:
        log.line(raw)  # the engine's own prints
    elif event["event"] == "log":
        log.line(str(event.get("line", "")))
    else:
        events.append(event)


def _stop(proc: subprocess.Popen[str]) -> None:
    """End the worker's whole session (py-rattler-build and the build script it runs)."""
    if proc.poll() is not None:
        return
    if not hasattr(os, "killpg"):  # Windows: no sessions; the worker alone
        proc.kill()
        proc.wait()
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _raise_for(events: list[dict[str, Any]], returncode: int, log: BuildLog, request: BuildRequest) -> None:
    recipe_path = request.recipe.path
    for event in events:
        if event["event"] == "test-failed":
            raise _test_failure(event, log, request)
        if event["event"] == "error":
            raise _translate(request, str(event.get("kind", "")), str(event.get("message", "")), log)
    if returncode != 0 or not any(e["event"] == "done" for e in events):
        raise BuildFailedError(
            f"rattler-build stopped for {recipe_path} (exit {returncode})",
            hint=f"the whole log is {log.path}",
            details=log.tail(),
        )


def _network_failure(lines: list[str], request: BuildRequest, what: str, also: str = "") -> NetworkError | None:
    """The environment could not be set up because a dependency channel is unreachable."""
    last = next((line for line in reversed(lines) if line.strip()), "")
    if not any(failure in last for failure in _ENVIRONMENT_FAILURES):
        return None
    unreachable = unreachable_channel(engine_channels(request)[1])
    if unreachable is None:
        return None
    channel, reason = unreachable
    return NetworkError(
        f"{what} for {request.recipe.path}: channel {channel} is unreachable ({reason}); nothing was uploaded",
        hint="check the network (or -c/--channel) and re-run the same command" + also,
    )


def _test_failure(event: dict[str, Any], log: BuildLog, request: BuildRequest) -> CipubError:
    package = Path(str(event["package"]))
    output = [line for text in event.get("output", []) for line in str(text).splitlines()]
    offline = _network_failure(
        output, request, "the recipe tests could not set up their environment", "; --no-test skips recipe tests"
    )
    if offline is not None:
        return offline  # the package is fine: it stays where it was built
    # As rattler-build does: a package whose tests failed moves to OUT/broken/, out of every subdir.
    broken = request.output_dir.resolve() / "broken"
    broken.mkdir(exist_ok=True)
    if package.is_file():
        package.replace(broken / package.name)
    index, count = int(event.get("index", 0)), int(event.get("count", 1))
    return BuildFailedError(
        f"recipe test {index + 1} of {count} failed for {package.name}; nothing was uploaded",
        hint=f"the test's output is above, the whole log in {log.path}; the package is in {broken}; "
        "--no-test skips recipe tests",
        details=tuple(output[-TAIL_LINES:]),
    )


def _translate(request: BuildRequest, kind: str, text: str, log: BuildLog) -> Exception:
    """py-rattler-build exceptions -> cipub errors (recipe/variant problems are exit 3)."""
    recipe_path = request.recipe.path
    if kind in _RECIPE_ERRORS:
        return v1.recipe_error(recipe_path, Exception(text), "rattler-build could not read the recipe or variants")
    message = v1.first_line(text) or kind
    if message.startswith("parse error") and request.variant_configs:
        # The recipe itself parsed a moment ago, so this is one of the variant files.
        files = ", ".join(str(p) for p in request.variant_configs)
        return RecipeError(f"cannot parse variant configuration ({files}): {message.removeprefix('parse error: ')}")
    if message == "Failed to parse recipe" or message.startswith("parse error"):
        return RecipeError(f"{recipe_path}: rattler-build could not parse the recipe: {message}")
    offline = _network_failure([message], request, "rattler-build could not set up the build environment")
    if offline is not None:
        return offline
    return BuildFailedError(
        f"rattler-build failed for {recipe_path}: {message}",
        hint=f"the last lines of the build log are above; the whole log is {log.path}",
        details=log.tail(),
    )

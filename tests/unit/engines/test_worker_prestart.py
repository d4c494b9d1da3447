"""The rattler-build worker started ahead of its build (issue 12, B7): it sees no secret, runs
nothing without a request, and ends when no build comes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cipub.engines._rattler_worker import start_ahead
from cipub.engines.rattler_build import RattlerBuildEngine
from tests.conftest import REPO


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _environ_after_exec(pid: int) -> list[bytes]:
    """The worker's environment once it is the worker: read between fork and exec (a loaded
    machine), /proc/PID/environ is empty, and the test failed on an empty list, not a secret."""
    deadline = time.monotonic() + 120
    while True:
        entries = [e for e in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if e]
        if entries or time.monotonic() > deadline:
            return entries
        time.sleep(0.01)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc/<pid>/environ")
def test_a_prestarted_worker_holds_no_secret_and_ends_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_DEPLOY_TOKEN", "prestart-canary-5d1e")
    monkeypatch.setenv("ANACONDA_API_TOKEN", "prestart-canary-77a0")
    monkeypatch.setenv("CIPUB_HARMLESS", "kept")
    worker = start_ahead()
    engine = RattlerBuildEngine(worker)
    environ = _environ_after_exec(worker.pid)
    assert b"CIPUB_HARMLESS=kept" in environ
    assert not [entry for entry in environ if b"prestart-canary" in entry]
    engine.close()
    assert worker.returncode is not None and _gone(worker.pid)
    engine.close()  # twice: nothing left to end


def test_a_worker_given_no_request_runs_nothing_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cipub.engines._rattler_worker"],
        input="",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def _children() -> set[int]:
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found.update(int(pid) for pid in text.split())
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="lists child processes in /proc")
def test_a_build_that_fails_before_its_engine_ends_the_prestarted_worker(tmp_path: Path) -> None:
    from cipub.core.errors import RecipeError
    from cipub.core.options import Settings
    from cipub.workflows.build import BuildJob, build

    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text("package: {name: broken, version: '1.0'}\nbuild: [not, a, mapping]\n")
    before = _children()
    settings = Settings(output_dir=str(tmp_path / "out"), manifest=str(tmp_path / "out" / "m.json"))
    with pytest.raises(RecipeError):
        build(settings, BuildJob(recipe=recipe, build_number=0, upload=False))
    assert _children() - before == set()

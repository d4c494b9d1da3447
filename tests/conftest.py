"""Shared fixtures. Topic-specific fixtures live in tests/support/ and each test folder's conftest."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from cipub.cli import main
from cipub.core.secrets import forget_all

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cipub(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run the real CLI in-process: ``cipub("upload", "--json", cwd=tmp_path, env={...})``."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
        with monkeypatch.context() as m:
            if cwd is not None:
                m.chdir(cwd)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            capsys.readouterr()
            code = main(list(args))
            captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def _isolated_cipub_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CIPUB_* or CI variables leak in from the developer's or the CI runner's environment."""
    for name in list(os.environ):
        if name.startswith("CIPUB_") or name in ("GITHUB_ACTIONS", "GITLAB_CI", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIPUB_BACKOFF", "0.01")
    forget_all()  # a secret seen by one test must not scrub another test's output


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install the test tools (npm packages, the Quetz venv) before the first test, when a selected
    test needs them: each install has its own timeout, not the per-test one."""
    if session.config.option.collectonly:
        return
    if "tests.support.node_tools" not in sys.modules and "tests.support.quetz" not in sys.modules:
        return
    users = {Path(str(item.fspath)) for item in session.items}
    installs: list[Callable[[], object]] = []
    if "tests.support.node_tools" in sys.modules and any(_mentions(path, "node_tools") for path in users):
        from tests.support.node_tools import bootstrap_for_session

        installs.append(bootstrap_for_session)
    # The Quetz test server's venv likewise (it marks itself ready last; unit tests never need it).
    if "tests.support.quetz" in sys.modules and any(
        "unit" not in path.parts and _mentions(path, "quetz") for path in users
    ):
        from tests.support.quetz import QuetzUnavailable, ensure_quetz_venv

        def quetz_venv() -> None:
            with contextlib.suppress(QuetzUnavailable):  # the tests that need it fail with the message
                ensure_quetz_venv()

        installs.append(quetz_venv)
    # Side by side: on a machine without the tool cache npm compiles for minutes while pip builds
    # the Quetz venv (each behind its own lock, in its own folder); a warm cache returns at once.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(install) for install in installs]:
            done.result()


def _mentions(path: Path, word: str) -> bool:
    for candidate in (path, path.parent / "conftest.py"):
        try:
            if word in candidate.read_text(encoding="utf-8"):
                return True
        except OSError:
            continue
    return False


_exit_status = {"code": 0}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without interpreter finalisation: py-rattler's tokio threads can crash it (exit 134/139
    after a fully passing run, seen here after index_fs). Everything is reported and flushed by now."""
    import sys

    # The summary sits in the terminal writer's stream, which need not be today's sys.stdout (a
    # test may leave another in place): flush every stream it could be, or os._exit drops it.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.flush()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(_exit_status["code"])

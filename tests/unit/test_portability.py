"""Issue 11 item 10: the zero-config default (the local channel) loads where ``fcntl`` does not exist
(Windows), and the hints for meta.yaml recipes name only what a PyPI-only machine can act on."""

from __future__ import annotations

import ast
import importlib
import sys
import threading
from pathlib import Path

import pytest

from cipub.engines.base import CONVERT_HINT
from cipub.engines.conda_build import CONDA_MISSING_HINT
from tests.conftest import REPO

#: modules only some platforms have
POSIX_ONLY = {"fcntl", "termios", "pwd", "grp", "resource"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_cipub_module_imports_a_posix_only_module() -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_modules(path) & POSIX_ONLY)
        for path in (REPO / "cipub").rglob("*.py")
        if imported_modules(path) & POSIX_ONLY
    }
    assert offenders == {}


def test_the_local_channel_loads_without_fcntl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` now raises ImportError, as on Windows
    monkeypatch.delitem(sys.modules, "cipub.channels.local", raising=False)
    # importing binds the new module as the package's attribute too: restore that as well, or later
    # tests' `from cipub.channels import local` patch a module the CLI no longer runs
    import cipub.channels

    monkeypatch.setattr(cipub.channels, "local", getattr(cipub.channels, "local", None), raising=False)
    module = importlib.import_module("cipub.channels.local")
    assert module.LocalChannel


def test_the_channel_lock_excludes_a_second_writer(tmp_path: Path) -> None:
    from filelock import FileLock, Timeout

    from cipub.channels import open_channel

    outcome: list[str] = []

    def second_writer() -> None:
        try:
            with FileLock(tmp_path / "chan" / ".cipub.lock").acquire(timeout=0.05):
                outcome.append("got the lock")
        except Timeout:
            outcome.append("waited")

    channel = open_channel(str(tmp_path / "chan"))
    with channel:
        channel._acquire()  # type: ignore[attr-defined]  # what the batch's first write does
        probe = threading.Thread(target=second_writer)
        probe.start()
        probe.join()
    assert outcome == ["waited"]
    second_writer()  # released with the batch
    assert outcome == ["waited", "got the lock"]


def test_meta_yaml_hints_do_not_send_people_to_pip_for_conda_only_tools() -> None:
    for hint in (CONVERT_HINT, CONDA_MISSING_HINT):
        assert "pip install" not in hint
        assert "recipe.yaml" in hint
    assert "not on PyPI" in CONDA_MISSING_HINT
    assert "-c conda-forge" in CONDA_MISSING_HINT

"""The conformance suite's targets: every kind of channel cipub publishes to, one server per kind
per session, a fresh channel (owner / repository / bucket prefix) per test.

A kind takes part when ``tests/support/<kind>_target.py`` defines ``<kind>_target(tmp_path,
server=...)``. Its session server comes from ``shared_<kind>()`` or the ``<kind>_server(root)``
context manager of the same module; without either, the handle starts its own.
``test_every_kind_takes_part`` fails while any of the seven kinds is missing.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import CliResult
from tests.support.targets import TargetHandle

ALL_KINDS = ("local", "anaconda", "psm", "quetz", "prefix", "artifactory", "s3")


def _load(kind: str) -> ModuleType | None:
    try:
        module = importlib.import_module(f"tests.support.{kind}_target")
    except ModuleNotFoundError as exc:
        if exc.name == f"tests.support.{kind}_target":
            return None
        raise
    return module if hasattr(module, f"{kind}_target") else None


MODULES: dict[str, ModuleType] = {k: m for k in ALL_KINDS if (m := _load(k)) is not None}
KINDS = tuple(MODULES)


class Servers:
    """Starts each kind's server on first use and keeps it for the session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stack = contextlib.ExitStack()
        self.running: dict[str, Any] = {}

    def get(self, kind: str) -> Any:
        if kind not in self.running:
            module = MODULES[kind]
            shared = getattr(module, f"shared_{kind}", None)
            factory = getattr(module, f"{kind}_server", None)
            if callable(shared):
                self.running[kind] = shared()
            elif callable(factory) and not hasattr(factory, "_pytestfixturefunction"):
                self.running[kind] = self.stack.enter_context(factory(self.root / kind))
            else:
                self.running[kind] = None
        return self.running[kind]


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pool = Servers(tmp_path_factory.mktemp("conformance-servers"))
    with pool.stack:
        yield pool


@pytest.fixture(params=KINDS)
def target(request: pytest.FixtureRequest, servers: Servers, tmp_path: Path) -> Iterator[TargetHandle]:
    kind: str = request.param
    factory = getattr(MODULES[kind], f"{kind}_target")
    server = servers.get(kind)
    context = factory(tmp_path / "target", server=server) if server is not None else factory(tmp_path / "target")
    (tmp_path / "target").mkdir(exist_ok=True)
    with context as handle:
        yield handle


Runner = Callable[..., CliResult]


@pytest.fixture
def run(cipub: Runner, target: TargetHandle, tmp_path: Path) -> Runner:
    """``run("upload", ...)``: the real CLI in-process, in a work directory, with the target's
    environment and ``--target``/extra options appended to channel commands."""
    work = tmp_path / "work"
    work.mkdir()

    def go(*args: str, env: dict[str, str] | None = None, channel: str | None = None) -> CliResult:
        extra: list[str] = []
        if args and args[0] in ("upload", "promote", "build"):
            extra = ["--target", channel or target.url, *target.extra_args]
        return cipub(*args, *extra, cwd=work, env={**target.env, **(env or {})})

    go.work = work  # type: ignore[attr-defined]
    return go


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIPUB_BACKOFF", "0.01")
    # boto3 must not pick up a developer's ~/.aws
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

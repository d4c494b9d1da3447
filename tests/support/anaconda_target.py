"""An anaconda.org channel target for tests and benchmarks, on the protocol server in ``tests/servers``.

    with anaconda_server(tmp_path) as server:                 # one per module, session or benchmark
        with anaconda_target(tmp_path, server=server) as h:   # a fresh owner per test
            ...
    with anaconda_target(tmp_path) as h:                      # or both at once
        ...

Each handle gets its own owner (an organisation the test user may write to), so tests sharing a
server never see each other's files. ``state()`` reads the server's own records (the sha256 it
computed from the bytes it stored), never cipub. ``handle.server`` is the server itself (hooks:
``latency``, ``faults``, ``requests``, ``stop()``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.anaconda_server import AnacondaServer, serve_anaconda
from tests.support.targets import TargetHandle

#: the test user's token: a canary that must never appear in cipub's output or files
TOKEN = "anaconda-canary-5c1d8e2f9a7b4e60"
USER = "cipub-tester"
_counter = itertools.count()


@contextlib.contextmanager
def anaconda_server(root: Path | None = None, **options: Any) -> Iterator[AnacondaServer]:
    """A running server with one user, ``USER``, whose token is ``TOKEN``."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cipub-anaconda-")))
        server = stack.enter_context(serve_anaconda(root, tokens={TOKEN: USER}, **options))
        yield server


@dataclass
class AnacondaHandle(TargetHandle):
    server: AnacondaServer | None = None
    owner: str = ""


@contextlib.contextmanager
def anaconda_target(tmp_path: Path, server: AnacondaServer | None = None) -> Iterator[AnacondaHandle]:
    with contextlib.ExitStack() as stack:
        if server is None:
            server = stack.enter_context(anaconda_server(tmp_path / "anaconda-server"))
        owner = f"org{os.getpid()}x{next(_counter)}"
        server.add_org(owner, [USER])
        live = server

        def state() -> dict[str, dict[str, str]]:
            return live.truth(owner)

        yield AnacondaHandle(
            kind="anaconda",
            url=f"anaconda+{server.url}/{owner}",
            env={"ANACONDA_API_TOKEN": TOKEN},
            install_url=lambda label: live.conda_url(owner, label),
            state=state,
            server=server,
            owner=owner,
        )

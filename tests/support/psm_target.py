"""A PSM (Anaconda Server) channel target for tests, on the protocol server in ``tests/servers``.

    with psm_server(tmp_path) as server:                 # one per module or session
        with psm_target(tmp_path, server=server) as h:   # a fresh public channel per test
            ...

The channel is created beforehand, as a PSM administrator would (cipub creates only subchannels).
``state()`` reads the server's own stored state (the sha256 of the bytes it keeps), never cipub.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.servers.psm_server import PSMServer, serve_psm
from tests.support.targets import TargetHandle

#: the write token the tests use; a canary that must never appear in cipub's output
TOKEN = "psm-canary-7f3e9a1c55d04b2e"
_counter = itertools.count()


@contextlib.contextmanager
def psm_server(root: Path | None = None, **options: Any) -> Iterator[PSMServer]:
    """A running PSM protocol server with one write token (``TOKEN``) and a read-only one."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cipub-psm-")))
        server = stack.enter_context(serve_psm(root, {TOKEN: True, "psm-read-only": False}, **options))
        yield server


@contextlib.contextmanager
def psm_target(tmp_path: Path, server: PSMServer | None = None, *, privacy: str = "public") -> Iterator[TargetHandle]:
    with contextlib.ExitStack() as stack:
        if server is None:
            server = stack.enter_context(psm_server(tmp_path / "psm"))
        channel = f"c{os.getpid()}x{next(_counter)}"
        server.create_channel(channel, privacy)
        api = f"{server.url}/api"

        def install_url(label: str) -> str:
            return f"{api}/repo/{channel}" + ("" if label == "main" else f"/{label}")

        def state() -> dict[str, dict[str, str]]:
            server.settle()
            return server.truth(channel)

        yield TargetHandle(
            kind="psm",
            url=f"psm+{server.url}/{channel}",
            env={"PSM_TOKEN": TOKEN},
            install_url=install_url,
            state=state,
        )

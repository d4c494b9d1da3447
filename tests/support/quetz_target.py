"""A Quetz channel target for tests, on the real Quetz server (``tests/support/quetz.py``).

    server = shared_quetz()                              # one per test process, started on first use
    with quetz_target(tmp_path, server=server) as h:     # a fresh channel per test
        ...

Each handle gets its own channel name, created public beforehand as a server admin would (cipub
then creates the label channels such as ``NAME-test`` with the same visibility), so tests share
one server without seeing each other's files. ``state()`` asks Quetz's own API, never cipub.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.quetz import QuetzServer, QuetzUnavailable, start_quetz
from tests.support.targets import TargetHandle

_counter = itertools.count()
#: the process-wide server, under the key "server" while it runs
_shared: dict[str, QuetzServer] = {}
_shared_lock = threading.Lock()


def shared_quetz() -> QuetzServer:
    """The process-wide Quetz server (started once, stopped when the process exits)."""
    with _shared_lock:
        server = _shared.get("server")
        if server is None or server.process.poll() is not None:
            workdir = Path(tempfile.mkdtemp(prefix="cipub-quetz-"))
            server = _shared["server"] = start_quetz(workdir)
            atexit.register(server.stop)
        return server


def stop_shared_quetz() -> None:
    with _shared_lock:
        server = _shared.pop("server", None)
        if server is not None:
            server.stop()


def new_channel_name(prefix: str = "t") -> str:
    return f"{prefix}{os.getpid()}x{next(_counter)}"


def create_channel(server: QuetzServer, name: str, *, private: bool = False) -> None:
    with server.client() as client:
        response = client.post("/api/channels", json={"name": name, "private": private})
        if response.status_code != 201:
            raise RuntimeError(f"creating Quetz channel {name}: {response.status_code} {response.text}")


def label_channels(client: httpx.Client, channel: str) -> dict[str, str]:
    """label -> Quetz channel name, read from the server's channel list (cipub's naming rule)."""
    found = {}
    for item in client.get("/api/channels", params={"q": channel}).json():
        name = item["name"]
        if name == channel:
            found["main"] = name
        elif name.startswith(f"{channel}-"):
            found[name[len(channel) + 1 :]] = name
    return found


def channel_state(server: QuetzServer, channel: str) -> dict[str, dict[str, str]]:
    """{label: {"subdir/filename": sha256}} as Quetz records it (sha256 Quetz computed on upload)."""
    state: dict[str, dict[str, str]] = {}
    with server.client() as client:
        for label, name in label_channels(client, channel).items():
            packages = client.get(f"/api/channels/{name}/packages")
            packages.raise_for_status()
            for package in packages.json():
                versions = client.get(f"/api/channels/{name}/packages/{package['name']}/versions")
                versions.raise_for_status()
                for v in versions.json():
                    state.setdefault(label, {})[f"{v['platform']}/{v['filename']}"] = v["info"]["sha256"]
    return state


@contextlib.contextmanager
def quetz_target(tmp_path: Path, server: QuetzServer | None = None) -> Iterator[TargetHandle]:
    """A fresh, public Quetz channel on ``server`` (default: the shared one)."""
    server = server or shared_quetz()
    channel = new_channel_name()
    create_channel(server, channel)
    base = server.url.replace("http://", "quetz+http://", 1)
    yield TargetHandle(
        kind="quetz",
        url=f"{base}/{channel}",
        env={"QUETZ_API_KEY": server.api_key},
        install_url=lambda label: f"{server.url}/get/{channel if label == 'main' else f'{channel}-{label}'}",
        state=lambda: channel_state(server, channel),
    )


@pytest.fixture(scope="session")
def quetz_server() -> Iterator[QuetzServer]:
    """One real Quetz for the session, or a test failure that says why there is none (never a skip)."""
    try:
        server = shared_quetz()
    except QuetzUnavailable as exc:
        pytest.fail(f"the real Quetz server is needed and could not be started: {exc}", pytrace=False)
    yield server
    stop_shared_quetz()

"""A prefix.dev channel target for tests, on the prefix.dev-protocol server (``tests/servers``).

    server = shared_prefix()                              # one per test process
    with prefix_target(tmp_path, server=server) as h:     # fresh channels per test
        ...

Each handle gets a channel ``NAME`` plus ``NAME-test`` (labels map to channels; prefix.dev has
no API to create channels, so they are created beforehand, as a user does on the website).
``state()`` reads the server's stored bytes, never cipub.
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

from tests.servers.prefix_server import PrefixServer
from tests.support.targets import TargetHandle

API_KEY = "pfx_cipub_canary_4d1f0c2b"  # must never appear in cipub's output
#: label channels an admin creates up front (these servers create no channel on upload); `broken` for yank
LABELS = ("test", "broken")
_counter = itertools.count()
_shared: dict[str, PrefixServer] = {}
_shared_lock = threading.Lock()


def shared_prefix() -> PrefixServer:
    """The process-wide server (started on first use, stopped when the process exits)."""
    with _shared_lock:
        if "server" not in _shared:
            root = Path(tempfile.mkdtemp(prefix="cipub-prefix-"))
            _shared["server"] = PrefixServer(root, api_keys={API_KEY}).start()
            atexit.register(_shared["server"].stop)
        return _shared["server"]


def label_channel(channel: str, label: str) -> str:
    return channel if label == "main" else f"{channel}-{label}"


def channel_state(server: PrefixServer, channel: str) -> dict[str, dict[str, str]]:
    state = {}
    for name, files in server.truth().items():
        if name == channel:
            label = "main"
        elif name.startswith(f"{channel}-"):
            label = name[len(channel) + 1 :]
        else:
            continue
        if files:
            state[label] = files
    return state


@contextlib.contextmanager
def prefix_target(tmp_path: Path, server: PrefixServer | None = None) -> Iterator[TargetHandle]:
    with contextlib.ExitStack() as stack:
        if server is None:
            server = stack.enter_context(PrefixServer(tmp_path / "prefix-server", api_keys={API_KEY}))
        server.api_keys.add(API_KEY)
        channel = f"c{os.getpid()}x{next(_counter)}"
        for label in ("main", *LABELS):
            server.create_channel(label_channel(channel, label))
        srv = server
        yield TargetHandle(
            kind="prefix",
            url=f"prefix+{srv.url}/{channel}",
            env={"PREFIX_API_KEY": API_KEY},
            install_url=lambda label: f"{srv.url}/{label_channel(channel, label)}",
            state=lambda: channel_state(srv, channel),
        )

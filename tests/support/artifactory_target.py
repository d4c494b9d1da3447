"""An Artifactory target for tests, on the Artifactory-protocol server (``tests/servers``).

    server = shared_artifactory()                              # one per test process
    with artifactory_target(tmp_path, server=server) as h:     # fresh repositories per test
        ...

Each handle gets the local conda repositories ``NAME`` and ``NAME-test`` (labels map to
repositories; an administrator creates them). ``state()`` reads the server's stored bytes.
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

from tests.servers.artifactory_server import ArtifactoryServer
from tests.support.targets import TargetHandle

TOKEN = "art_cipub_canary_7e2a91"  # must never appear in cipub's output
#: label channels an admin creates up front (these servers create no channel on upload); `broken` for yank
LABELS = ("test", "broken")
_counter = itertools.count()
_shared: dict[str, ArtifactoryServer] = {}
_shared_lock = threading.Lock()


def shared_artifactory() -> ArtifactoryServer:
    """The process-wide server (started on first use, stopped when the process exits)."""
    with _shared_lock:
        if "server" not in _shared:
            root = Path(tempfile.mkdtemp(prefix="cipub-artifactory-"))
            _shared["server"] = ArtifactoryServer(root, tokens={TOKEN}).start()
            atexit.register(_shared["server"].stop)
        return _shared["server"]


def repo_for(repo: str, label: str) -> str:
    return repo if label == "main" else f"{repo}-{label}"


def repo_state(server: ArtifactoryServer, repo: str) -> dict[str, dict[str, str]]:
    state = {}
    for name, files in server.truth().items():
        if name == repo:
            label = "main"
        elif name.startswith(f"{repo}-"):
            label = name[len(repo) + 1 :]
        else:
            continue
        if files:
            state[label] = files
    return state


@contextlib.contextmanager
def artifactory_target(tmp_path: Path, server: ArtifactoryServer | None = None) -> Iterator[TargetHandle]:
    with contextlib.ExitStack() as stack:
        if server is None:
            server = stack.enter_context(ArtifactoryServer(tmp_path / "artifactory-server", tokens={TOKEN}))
        server.tokens.add(TOKEN)
        repo = f"conda{os.getpid()}x{next(_counter)}"
        for label in ("main", *LABELS):
            server.create_repo(repo_for(repo, label))
        srv = server
        yield TargetHandle(
            kind="artifactory",
            url=f"artifactory+{srv.url}/{repo}",
            env={"ARTIFACTORY_TOKEN": TOKEN},
            install_url=lambda label: f"{srv.url}/api/conda/{repo_for(repo, label)}",
            state=lambda: repo_state(srv, repo),
        )

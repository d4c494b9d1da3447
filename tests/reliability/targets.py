"""Channel targets for the reliability suite, each able to tell its own truth without cipub.

* ``local``: a directory channel; truth = the files on disk (re-hashed) and each label's repodata.
* ``anaconda``: the anaconda.org-protocol test server (``tests/servers/anaconda_server.py``) run
  in this process; truth = the server's records, its stored bytes re-hashed, and its pending stages.

Other servers (Quetz, PSM, prefix, Artifactory, S3) come from their own ``tests/support/<kind>_target.py``
modules as :class:`tests.support.targets.TargetHandle` objects; :func:`proxied_handle` puts the fault
proxy in front of any of them.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import httpx

from tests.reliability.helpers import duplicates, local_truth
from tests.support.targets import TargetHandle

ANACONDA_TOKEN = "rel-token-7d1c"  # the test server's token for owner "alice"
OWNER = "alice"


class TruthTarget(Protocol):
    kind: str
    url: str
    env: dict[str, str]
    extra_args: list[str]

    def files(self) -> dict[str, dict[str, str]]: ...

    def problems(self) -> list[str]:
        """Duplicates, bytes that do not match their records, index entries without files..."""
        ...


@dataclass
class LocalTarget:
    root: Path
    kind: str = "local"
    env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.root)

    def files(self) -> dict[str, dict[str, str]]:
        return local_truth(self.root).files

    def problems(self) -> list[str]:
        truth = local_truth(self.root)
        found = []
        for label, by_key in truth.files.items():
            missing = set(by_key) - truth.indexed.get(label, set())
            if missing:
                found.append(f"label {label}: files not in repodata: {sorted(missing)}")
        for label, keys in truth.indexed.items():
            ghosts = keys - set(truth.files.get(label, {}))
            if ghosts:
                found.append(f"label {label}: repodata lists missing files: {sorted(ghosts)}")
        return found

    def leftovers(self) -> list[str]:
        return local_truth(self.root).leftovers


@dataclass
class AnacondaTarget:
    server: Any  # tests.servers.anaconda_server.AnacondaServer
    kind: str = "anaconda"
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: {"ANACONDA_API_TOKEN": ANACONDA_TOKEN})

    @property
    def url(self) -> str:
        return f"anaconda+{self.server.url}/{OWNER}"

    def files(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for rec in self.server.file_records(OWNER):
            for label in rec.labels:
                out.setdefault(label, {})[rec.basename] = rec.sha256
        return out

    def problems(self) -> list[str]:
        recs = self.server.file_records(OWNER)
        found = list(self.server.verify_storage())
        dup = duplicates([r.basename for r in recs])
        if dup:
            found.append(f"{dup} duplicate file records")
        # What a conda client sees must agree with the records: every labelled file in repodata.
        for label, by_key in self.files().items():
            subdirs = {k.split("/", 1)[0] for k in by_key}
            listed: set[str] = set()
            for subdir in subdirs:
                url = f"{self.server.conda_url(OWNER, label)}/{subdir}/repodata.json"
                data = httpx.get(url, timeout=10).json()
                listed.update(f"{subdir}/{n}" for n in (*data.get("packages", {}), *data.get("packages.conda", {})))
            if set(by_key) - listed:
                found.append(f"label {label}: not in repodata: {sorted(set(by_key) - listed)}")
        return found

    def leftovers(self) -> list[str]:
        with self.server.store.lock:
            return [s.basename for s in self.server.store.stages.values()]


@contextlib.contextmanager
def anaconda_server(root: Path, latency: float = 0.0) -> Iterator[Any]:
    from tests.servers.anaconda_server import AnacondaServer

    with AnacondaServer(root, tokens={ANACONDA_TOKEN: OWNER}, latency=latency, record=False) as server:
        yield server


@contextlib.contextmanager
def fresh_target(kind: str, workdir: Path) -> Iterator[TruthTarget]:
    """A new, empty channel of ``kind`` ("local" or "anaconda") for one trial."""
    if kind == "local":
        yield LocalTarget(workdir / "channel")
    else:
        with anaconda_server(workdir / "server") as server:
            yield AnacondaTarget(server)


def cipub_channel_available(kind: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"cipub.channels.{kind}") is not None


# -- putting the fault proxy in front of any TargetHandle -----------------------------------------

_LOOPBACK = re.compile(r"(127\.0\.0\.1|localhost):(\d+)")


def upstream_ports(handle: TargetHandle) -> set[int]:
    texts = [handle.url, *handle.extra_args, *handle.env.values()]
    return {int(m.group(2)) for text in texts for m in _LOOPBACK.finditer(text)}


def proxied_handle(handle: TargetHandle, port_map: dict[int, int]) -> TargetHandle:
    """The same target with every loopback port replaced by its proxy's port."""

    def swap(text: str) -> str:
        return _LOOPBACK.sub(lambda m: f"127.0.0.1:{port_map.get(int(m.group(2)), int(m.group(2)))}", text)

    return replace(
        handle,
        url=swap(handle.url),
        extra_args=[swap(a) for a in handle.extra_args],
        env={k: swap(v) for k, v in handle.env.items()},
    )


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)


# -- every remote kind, as a TargetHandle --------------------------------------------------------

#: the server kinds a fault proxy can stand in front of (each has tests/support/<kind>_target.py)
REMOTE_KINDS = ("anaconda", "quetz", "psm", "prefix", "artifactory", "s3")


@contextlib.contextmanager
def own_anaconda_handle(tmp_path: Path, token: str = ANACONDA_TOKEN) -> Iterator[TargetHandle]:
    """The anaconda.org-protocol server as a TargetHandle, with ``token`` as the owner's token."""
    from tests.servers.anaconda_server import AnacondaServer

    with AnacondaServer(tmp_path / "anaconda-server", tokens={token: OWNER}, record=False) as server:
        yield TargetHandle(
            kind="anaconda",
            url=f"anaconda+{server.url}/{OWNER}",
            env={"ANACONDA_API_TOKEN": token},
            install_url=lambda label: server.conda_url(OWNER, label),
            state=lambda: server.truth(OWNER),
        )


@contextlib.contextmanager
def remote_handle(kind: str, tmp_path: Path) -> Iterator[TargetHandle]:
    """A fresh target of ``kind`` from its ``tests/support/<kind>_target.py`` module.

    A kind whose module or cipub channel is missing fails the test with the reason (never a skip).
    """
    import importlib

    import pytest

    if not cipub_channel_available(kind):
        pytest.fail(f"cipub.channels.{kind} does not exist: the {kind} target has not landed", pytrace=False)
    if kind == "anaconda":
        try:
            module = importlib.import_module("tests.support.anaconda_target")
        except ModuleNotFoundError:
            with own_anaconda_handle(tmp_path) as handle:
                yield handle
            return
    else:
        try:
            module = importlib.import_module(f"tests.support.{kind}_target")
        except ModuleNotFoundError as exc:
            pytest.fail(f"tests/support/{kind}_target.py is missing ({exc})", pytrace=False)
    factory = getattr(module, f"{kind}_target")
    with factory(tmp_path) as handle:
        yield handle


def secret_values(handle: TargetHandle) -> list[str]:
    """The secrets a handle hands to cipub (tokens, keys, passwords in its environment)."""
    markers = ("TOKEN", "KEY", "SECRET", "PASSWORD")
    return [
        v
        for k, v in handle.env.items()
        if any(m in k.upper() for m in markers) and not k.upper().endswith("KEY_ID") and len(v) >= 8
    ]


def start_shared_servers_here() -> None:
    """Start the process-wide servers from the calling (main) thread, before any worker thread does.

    tests/support/quetz.py starts Quetz with PR_SET_PDEATHSIG, which Linux ties to the *thread* that
    forked it: a Quetz started from a ThreadPoolExecutor worker gets SIGTERM when that worker exits.
    """
    from tests.support.quetz_target import shared_quetz

    shared_quetz()

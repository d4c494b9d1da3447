"""A running channel target for tests, described the same way for every kind of server.

Each server kind provides ``tests/support/<kind>_target.py`` with a context manager
``<kind>_target(tmp_path) -> Iterator[TargetHandle]`` (or a session-scoped fixture built on it).
The shared conformance suite runs every scenario against every handle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TargetHandle:
    #: "local", "anaconda", "psm", "quetz", "prefix", "artifactory", "s3"
    kind: str
    #: the value for ``cipub ... --target``
    url: str
    #: environment variables cipub needs (tokens, AWS settings); merged into the process env by tests
    env: dict[str, str] = field(default_factory=dict)
    #: label -> a channel URL (or path) py-rattler can solve and install from
    install_url: Callable[[str], str] = lambda label: ""
    #: the server's own truth, read through its API or storage, never through cipub:
    #: {label: {"subdir/filename": sha256}}
    state: Callable[[], dict[str, dict[str, str]]] = lambda: {}
    #: extra ``cipub`` options needed for this target (e.g. ["--api-url", ...])
    extra_args: list[str] = field(default_factory=list)

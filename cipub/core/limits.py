"""The retry budget, timeouts and bounds of an HTTP client, declared once.

:class:`cipub.core.transport.HttpClient` reads them; :class:`cipub.channels.target.TargetOptions`
extends them with what only a target needs. A leaf module without httpx, so a target's options can
be made without importing the HTTP stack (``cipub --help`` stays light).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryBudget:
    """What a client needs of a target's settings: the retry budget, timeouts and bounds
    (``cipub.channels.target.TargetOptions`` extends it with what only a target needs)."""

    concurrency: int = 4
    retries: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: base delay of exponential backoff, seconds (tests make it small)
    backoff: float = 0.5
    #: overall limit of one HTTP attempt, body included (a trickling server), seconds
    request_timeout: float = 600.0
    #: ``time.monotonic()`` instant after which no request starts (the command's deadline); None: none
    command_deadline: float | None = None
    #: the most bytes one package or repodata download may bring
    max_download_bytes: int = 8 * 1024**3

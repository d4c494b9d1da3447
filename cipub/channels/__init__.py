"""Channel targets: one module per kind of server, chosen from the target URL.

| target form                                   | kind        | module                |
|-----------------------------------------------|-------------|-----------------------|
| ``./dir``, ``/abs/dir``, ``file:///dir``      | local       | channels/local.py     |
| ``https://anaconda.org/OWNER``                | anaconda    | channels/anaconda.py  |
| ``anaconda+http(s)://HOST/OWNER`` (on-prem)   | anaconda    | channels/anaconda.py  |
| ``psm+https://HOST/CHANNEL``                  | psm         | channels/psm.py       |
| ``quetz+http(s)://HOST/CHANNEL``              | quetz       | channels/quetz.py     |
| ``https://prefix.dev/CHANNEL``, ``prefix+http(s)://HOST/CHANNEL`` | prefix | channels/prefix.py |
| ``artifactory+https://HOST/artifactory/REPO`` | artifactory | channels/artifactory.py |
| ``s3://BUCKET/PREFIX``                        | s3          | channels/s3.py        |

Modules are imported lazily so ``cipub --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from cipub.channels.target import Target, TargetKind, TargetOptions, parse_target
from cipub.core.errors import UsageError

if TYPE_CHECKING:
    # only named in annotations: ``cipub plan`` checks its -c channels through channels.target
    # without the channel layer (channels.base and core.artifact: ~5 ms of start-up, benchmark B9)
    from cipub.channels.base import Channel

_MODULES: dict[TargetKind, str] = {
    "local": "cipub.channels.local",
    "anaconda": "cipub.channels.anaconda",
    "psm": "cipub.channels.psm",
    "quetz": "cipub.channels.quetz",
    "prefix": "cipub.channels.prefix",
    "artifactory": "cipub.channels.artifactory",
    "s3": "cipub.channels.s3",
}


class TargetModule(Protocol):
    def open_target(self, target: Target, options: TargetOptions) -> Channel: ...


def token_variable(kind: TargetKind) -> str:
    """The variable a target of ``kind`` reads its token from first ('' for kinds that take none):
    `cipub ci init github` names the repository secret after it, so CI and laptops share one name."""
    names: tuple[str, ...] = getattr(importlib.import_module(_MODULES[kind]), "TOKEN_ENV", ())
    return names[0] if names else ""


def open_channel(raw: str, options: TargetOptions | None = None) -> Channel:
    """Parse ``raw`` and open its module's channel (lazily imported)."""
    target = parse_target(raw)
    try:
        module: TargetModule = importlib.import_module(_MODULES[target.kind])
    except ModuleNotFoundError as exc:
        raise UsageError(f"the {target.kind} target is not available in this cipub build ({exc})") from exc
    return module.open_target(target, options or TargetOptions())


__all__ = ["Target", "TargetOptions", "open_channel", "parse_target", "token_variable"]

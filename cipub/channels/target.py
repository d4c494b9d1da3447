"""What a target is: its kind, the parsed ``--target`` value, and the options that shape how it is reached.

A leaf module (no target module is imported here), so every target can import it without a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cipub.core.errors import UsageError
from cipub.core.limits import RetryBudget
from cipub.core.secrets import Secret, read_token, redact_url, refuse_credentials

TargetKind = Literal["local", "anaconda", "psm", "quetz", "prefix", "artifactory", "s3"]


@dataclass(frozen=True)
class TargetOptions(RetryBudget):
    """Settings that shape how a target is reached (the client's retry budget, timeouts and bounds,
    and what only a target needs); secrets are never stored here, only where to read them."""

    api_url: str | None = None
    token_file: Path | None = None
    #: how long verify and promote wait for a server's index to show a file, seconds
    index_wait: float = 60.0
    #: labels this command works with (--label, --from, --to): read, besides ``main`` and ``test``,
    #: by targets that cannot list their label channels (``Capabilities.lists_labels`` False)
    labels: tuple[str, ...] = ()
    #: the environment variables the token is read from instead of the kind's own (a second target
    #: of a cross-target promotion reads ``CIPUB_TO_TOKEN``, never the first target's variables)
    token_env: tuple[str, ...] = ()
    #: the option ``token_file`` came from, as errors name it (``--to-token-file`` for the second
    #: target of a cross-target promotion)
    file_flag: str = "--token-file"

    def read_token(self, kind_env: Sequence[str], *, what: str = "this target") -> Secret | None:
        """The token from ``token_file``, else ``token_env`` or the kind's own variables ``kind_env``;
        None when there is none (the target decides whether it needs one)."""
        return read_token(
            self.token_env or kind_env, token_file=self.token_file, option=self.file_flag, required=False, what=what
        )


@dataclass(frozen=True)
class Target:
    """A parsed target: its kind and the pieces its module needs."""

    kind: TargetKind
    raw: str
    #: for servers: base URL (scheme://host[:port][/prefix]); for local: the directory
    base: str
    #: owner (anaconda), channel (psm, quetz, prefix), repo (artifactory), prefix (s3), "" (local)
    name: str
    #: a label the URL itself names (``https://anaconda.org/OWNER/label/L``, as rattler-build writes
    #: it): the staging label, see :func:`cipub.workflows.target.with_target_label`
    label: str | None = None

    @property
    def display(self) -> str:
        """The target as messages show it: a URL through :func:`redact_url` (a path as it is)."""
        return redact_url(self.raw) if "://" in self.raw else self.raw


#: rattler-build's ``publish --to`` schemes: ``quetz://HOST/CHANNEL`` means ``quetz+https://HOST/CHANNEL``
RATTLER_BUILD_SCHEMES: dict[str, str] = {"quetz": "quetz", "artifactory": "artifactory", "prefix": "prefix"}
_ANACONDA_HOSTS = ("anaconda.org", "www.anaconda.org", "conda.anaconda.org")


_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]|\\\\")


def is_clearly_a_path(raw: str) -> bool:
    """``./x``, ``../x``, ``/x``, ``~/x``, ``C:\\x`` (``file://`` is a URL): a word alone is not.

    A bare word (``conda-forge``, ``my-channel``) is a channel name in every conda tool; taking it as
    a directory would publish into a new folder of that name without a word.
    """
    if raw in (".", "..", "~"):
        return True
    return raw.startswith(("./", "../", "/", "~/", ".\\", "..\\")) or bool(_WINDOWS_ABSOLUTE.match(raw))


def parse_target(raw: str) -> Target:
    """Turn a ``--target`` value into a Target, or fail with a message that lists the forms."""
    raw = raw.strip()
    if not raw:
        raise UsageError("empty target")
    shown = redact_url(raw)  # every message shows this, never raw: a URL may carry a credential
    if "://" not in raw and not is_clearly_a_path(raw):
        raise UsageError(
            f"target {shown!r} is neither a URL nor a path",
            hint=f"write a directory channel as a path (--target ./{shown}) and a server as a URL "
            "(https://anaconda.org/OWNER, quetz+https://HOST/CHANNEL ...); dependency channels go to "
            "-c/--channel on build and plan",
        )
    refuse_credentials(raw, "--target")
    local = parse_local_path(raw)
    if local is not None:
        return Target("local", raw, str(local), "")
    try:
        parts = urlsplit(raw)
    except ValueError as exc:  # e.g. "https://[" : urllib's own complaint is the clearest message
        raise UsageError(f"target {shown!r} is not a valid URL ({exc})", hint=_FORMS_HINT) from None
    scheme = parts.scheme.lower()
    path = parts.path.strip("/")
    if not parts.netloc and scheme != "s3":
        raise UsageError(f"target {shown!r} has no host", hint=_FORMS_HINT)
    if "@" in parts.netloc or parts.query or parts.fragment or "#" in raw:
        raise UsageError(
            f"target {shown!r}: targets must not carry credentials (user@), query strings or #fragments",
            hint="put tokens in the documented environment variable or use --token-file",
        )
    if scheme in RATTLER_BUILD_SCHEMES:
        # rattler-build's spelling: the server is reached over https, as rattler-build does.
        scheme = f"{RATTLER_BUILD_SCHEMES[scheme]}+https"
    host_base = f"{scheme.split('+')[-1]}://{parts.netloc}"
    if scheme == "s3":
        return Target("s3", raw, parts.netloc, path)
    if "+" in scheme:
        kind_name, _, inner = scheme.partition("+")
        if inner not in ("http", "https"):
            raise UsageError(f"unsupported scheme {scheme!r} in {shown!r}", hint=_FORMS_HINT)
        if kind_name not in ("anaconda", "psm", "quetz", "prefix", "artifactory"):
            raise UsageError(f"unknown target kind {kind_name!r} in {shown!r}", hint=_FORMS_HINT)
        if not path:
            raise UsageError(f"{shown!r} names no channel/owner/repository after the host", hint=_FORMS_HINT)
        if kind_name == "artifactory":
            prefix, _, repo = path.rpartition("/")
            base = f"{host_base}/{prefix}" if prefix else host_base
            return Target("artifactory", raw, base, repo)
        kind: TargetKind = kind_name  # type: ignore[assignment]
        return Target(kind, raw, host_base, path)
    if scheme in ("http", "https"):
        host = parts.hostname or ""
        segments = path.split("/") if path else []
        if host in _ANACONDA_HOSTS:
            return _anaconda_org(raw, segments, shown)
        if not path or "/" in path:
            raise UsageError(f"{shown!r}: expected exactly one path segment (owner or channel)", hint=_FORMS_HINT)
        if host in ("prefix.dev", "repo.prefix.dev"):
            return Target("prefix", raw, "https://prefix.dev", path)
        if "quetz" in host:  # rattler-build's rule for an https URL: a host named like Quetz is Quetz
            return Target("quetz", raw, host_base, path)
        raise UsageError(
            f"cannot tell which server {shown!r} is",
            hint="prefix the scheme with the server kind, e.g. quetz+https://HOST/CHANNEL. " + _FORMS_HINT,
        )
    raise UsageError(f"unsupported target {shown!r}", hint=_FORMS_HINT)


def ledger_target(raw: str, *, base: Path | None = None) -> str | None:
    """The target as the ledger records it (``Record.target``): one spelling per channel, so that
    ``./ch``, ``./ch/``, ``././ch``, ``../here/ch``, ``/abs/ch`` and ``file:///abs/ch`` (or
    ``quetz://HOST/C`` and ``quetz+https://host/C/``) are one target, and never a secret. None when
    ``raw`` is not a target (nothing to attribute it to).

    A local directory is its resolved absolute path (``file://`` form); a relative one is taken from
    ``base`` (default: the working directory, as a ``--target`` flag is typed). A server is its
    kind, its base URL with the scheme and host in lower case (the path keeps its case: servers
    may tell ``C`` from ``c``), no trailing slash, and its owner/channel/repository, without a
    label the URL names (a label of the same channel is the same target); an S3 target is
    ``s3://BUCKET/PREFIX`` without a trailing slash (bucket and prefix keep their case, as S3
    does). Credentials are refused by :func:`parse_target`; a server form is redacted anyway.
    """
    try:
        target = parse_target(raw)
    except UsageError:
        return None
    if target.kind == "local":
        path = Path(target.base).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        return path.resolve().as_uri()
    if target.kind == "s3":
        return redact_url(f"s3://{target.base}/{target.name}".rstrip("/"))
    parts = urlsplit(target.base)
    server = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    return redact_url(f"{target.kind}+{server}/{target.name}")


def _anaconda_org(raw: str, segments: list[str], shown: str) -> Target:
    """``https://anaconda.org/OWNER``, with rattler-build's ``/OWNER/LABEL`` and conda's ``/OWNER/label/LABEL``."""
    if len(segments) == 1:
        return Target("anaconda", raw, "https://api.anaconda.org", segments[0])
    if len(segments) == 2 and segments[1] != "label":
        return Target("anaconda", raw, "https://api.anaconda.org", segments[0], label=segments[1])
    if len(segments) == 3 and segments[1] == "label":
        return Target("anaconda", raw, "https://api.anaconda.org", segments[0], label=segments[2])
    raise UsageError(
        f"{shown!r}: expected https://anaconda.org/OWNER, optionally with /LABEL or /label/LABEL", hint=_FORMS_HINT
    )


def check_dependency_channel(raw: str) -> str:
    """A ``-c/--channel`` value, refused when it can only be a cipub publish target (``quetz+https://``).

    Dependency channels are what conda and rattler-build take (names, URLs, paths); the
    ``KIND+https://`` forms exist only in cipub, and ``quetz://`` and the like only in
    rattler-build's ``publish --to``, so someone writing one means ``--target``.
    """
    refuse_credentials(raw, "-c/--channel")
    scheme = raw.partition("://")[0].lower() if "://" in raw else ""
    if "+" in scheme or scheme in RATTLER_BUILD_SCHEMES:
        shown = redact_url(raw)
        raise UsageError(
            f"-c/--channel {shown!r} is a publish target, not a channel to solve dependencies from",
            hint=f"publish with --target {shown}; -c/--channel names dependency channels (conda-forge, URLs, paths)",
        )
    return raw


def parse_local_path(target: str) -> Path | None:
    """``./channel``, ``/srv/conda`` or ``file:///srv/conda`` -> Path; None for other schemes."""
    if target.startswith("file://"):
        path = target[len("file://") :]
        if not path.startswith("/"):
            raise UsageError(f"{target!r}: a file:// target needs an absolute path (file:///srv/conda)")
        return Path(path)
    if "://" in target:
        return None
    return Path(target)


_FORMS_HINT = (
    "targets: ./dir | file:///dir | https://anaconda.org/OWNER[/label/L] | anaconda+https://HOST/OWNER | "
    "psm+https://HOST/CHANNEL | quetz+https://HOST/CHANNEL (or quetz://) | https://prefix.dev/CHANNEL | "
    "artifactory+https://HOST/artifactory/REPO (or artifactory://) | s3://BUCKET/PREFIX"
)

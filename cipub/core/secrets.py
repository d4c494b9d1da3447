"""Tokens: read from environment variables or a file, never from argv; never printed.

A :class:`Secret` hides its value from ``str``/``repr``/f-strings, so it cannot leak into a message
or a log line by accident. Every value read is handed to the installed *masker* (see
:func:`install_masker`) before anything could print it: the CLI's entry point installs the CI
provider's (``cipub.ci.provider.mask``, ``::add-mask::`` on GitHub Actions). This module imports
nothing above ``cipub.core``; without a masker (library use) secrets are still scrubbed, not masked.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from cipub.core.errors import AuthError, UsageError

#: every secret value read in this process, so output can be scrubbed and CI logs masked
_SEEN: set[str] = set()

#: hides one value in the CI log; called once per secret value read
Masker = Callable[[str], None]
_masker: Masker | None = None


def install_masker(masker: Masker | None) -> Masker | None:
    """Send every secret read from now on to ``masker`` (None: no masking). Returns the previous one."""
    global _masker  # one process-wide hook, installed by the CLI's entry point
    previous, _masker = _masker, masker
    return previous


def mask(value: str) -> None:
    """Ask the installed masker to hide ``value`` in the CI log; nothing happens without one."""
    if _masker is not None:
        _masker(value)


def remember(value: str) -> None:
    """From now on ``value`` prints as ``***`` wherever output is scrubbed (and is masked in CI)."""
    if value and value not in _SEEN:
        _SEEN.add(value)
        mask(value)  # hide it in CI logs before anything could print it


def remember_url_secrets(raw: str) -> None:
    """A URL's query and fragment (``?auth=...``, ``#...``) may hold a credential cipub cannot
    recognise by name: they are kept out of every scrubbed line (the build's log, errors, summaries)
    as well as the messages that show the URL through :func:`redact_url`."""
    if "://" not in raw:
        return
    rest, _, fragment = raw.partition("#")
    for part in (rest.partition("?")[2], fragment):
        remember(part)


class Secret:
    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source  # e.g. "ANACONDA_API_TOKEN" or "token file /x" -- never the value
        remember(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


def clean_token(raw: str, source: str, *, allow_spaces: bool = False) -> str:
    """The token in ``raw`` without the padding editors and ``echo`` add (spaces, CR/LF, a BOM).

    More than one non-blank line, or whitespace/control characters inside the token, is refused
    (exit 2) rather than guessed at: such a value would be sent as a broken header or the wrong
    credential. The message never shows the value.
    """
    lines = [line.strip() for line in raw.replace("\r", "\n").split("\n") if line.strip()]
    if len(lines) > 1:
        for line in lines:  # mask what we refuse too: it may well be secrets
            Secret(line, source)
        raise UsageError(
            f"{source} holds {len(lines)} non-blank lines; a token source holds exactly one token",
            hint="write only the token (one line) to the file or variable",
        )
    value = lines[0] if lines else ""
    if any((ch.isspace() and not (allow_spaces and ch == " ")) or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        Secret(value, source)
        raise UsageError(
            f"{source}: the token contains whitespace or control characters",
            hint="write only the token (one line) to the file or variable",
        )
    return value


#: a JWT (three base64url parts) or PEM armour: what a secret looks like when passed where a path goes
_JWT = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$")


def looks_like_secret(value: str) -> bool:
    """True when a file-path option's value looks like key material or a token, not a path."""
    text = value.strip()
    return "\n" in text or "-----BEGIN" in text or bool(_JWT.match(text)) or len(text) > 255


def unreadable_file(option: str, value: str, reason: str) -> UsageError:
    """Exit 2 for a key/token file option naming no readable file, never echoing its value.

    The value may be the secret itself (``--attest-key-file "$(cat key.pem)"``): a CI log keeps
    whatever an error prints, so the value is not shown, whatever it looks like.
    """
    looks = (
        "the value looks like key material or a token itself, not a path"
        if looks_like_secret(value)
        else reason or "cannot read it"
    )
    return UsageError(
        f"{option} does not name a readable file ({looks}; the value is not shown)",
        hint=f"pass {option} the path of a file holding the secret; in CI write the secret variable to a file first",
    )


def _read_secret_file(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise unreadable_file(option, str(path), exc.strerror or "") from None
    except ValueError:  # a NUL byte in the "path", or not UTF-8
        if looks_like_secret(str(path)) or "\0" in str(path):
            raise unreadable_file(option, str(path), "") from None
        raise UsageError(f"token file {path} is not UTF-8 text") from None


def read_token(
    env_names: Sequence[str],
    *,
    token_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    required: bool = True,
    what: str = "this target",
    allow_spaces: bool = False,
    option: str = "--token-file",
) -> Secret | None:
    """First of: ``token_file``, then each variable in ``env_names``. AuthError (exit 5) if none.

    ``option`` names the file option in the error when ``token_file`` cannot be read (its value
    is never shown: it may be the token itself).
    """
    env = process_environ() if environ is None else environ
    if token_file is not None:
        raw = _read_secret_file(token_file, option)
        value = clean_token(raw, f"token file {token_file}", allow_spaces=allow_spaces)
        if not value:
            raise AuthError(f"token file {token_file} is empty")
        return Secret(value, f"token file {token_file}")
    for name in env_names:
        value = clean_token(env.get(name, ""), name, allow_spaces=allow_spaces)
        if value:
            return Secret(value, name)
    if required:
        raise AuthError(
            f"no token for {what}: set {' or '.join(env_names)}",
            hint="or pass --token-file PATH; tokens are never accepted as command-line values",
        )
    return None


#: values shorter than this are not scrubbed: no real token is this short, and replacing every
#: occurrence of a two-letter "token" would garble all output
MIN_SCRUB_LENGTH = 8


def scrub(text: str) -> str:
    """Replace every secret value seen in this process by ``***``."""
    for value in sorted(_SEEN, key=len, reverse=True):
        if len(value) >= MIN_SCRUB_LENGTH and value in text:
            text = text.replace(value, "***")
    return text


def forget_all() -> None:
    """Forget the secrets seen (and held back from builds) so far (tests run many commands in one process)."""
    _SEEN.clear()
    _HELD.clear()


def seen_secrets() -> frozenset[str]:
    return frozenset(_SEEN)


#: environment variables that hold publish credentials (every target's, and the CI's own)
SECRET_ENV_NAMES = frozenset(
    {
        "ANACONDA_API_TOKEN",
        "BINSTAR_API_TOKEN",
        "ANACONDA_API_KEY",
        "QUETZ_API_KEY",
        "PSM_TOKEN",
        "ANACONDA_SERVER_TOKEN",
        "PREFIX_API_KEY",
        "ARTIFACTORY_TOKEN",
        "ARTIFACTORY_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "CI_JOB_TOKEN",
        "CI_JOB_JWT",
    }
)
#: and anything named like a secret
CREDENTIAL_LIKE_NAMES = r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIAL|PRIVATE_KEY|_JWT$"
_SECRET_NAME = re.compile(CREDENTIAL_LIKE_NAMES, re.I)


def is_secret_name(name: str) -> bool:
    return name.upper() in SECRET_ENV_NAMES or bool(_SECRET_NAME.search(name))


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` minus every variable that holds (or is named like) a credential.

    What recipe code sees: a recipe's Jinja (``environ[...]``, ``env.get(...)``) rendered by ``plan``
    would otherwise carry a token into plan.json, GITHUB_OUTPUT or the summary.
    """
    return {k: v for k, v in environ.items() if not is_secret_name(k)}


@contextlib.contextmanager
def secrets_hidden_from_environ() -> Iterator[None]:
    """While in-process code that reads ``os.environ`` runs (py-rattler-build rendering a recipe),
    take the secret variables out of it; put them back afterwards."""
    taken = {k: v for k, v in os.environ.items() if is_secret_name(k)}
    for name in taken:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(taken)


#: query parameters that carry a secret in the wild (presigned URLs, API keys)
_SECRET_QUERY = re.compile(
    r"(?:^|&)(?:token|access_token|api_key|apikey|key|password|secret|x-amz-signature|signature)=", re.I
)
#: anaconda.org's token-in-path form: https://conda.anaconda.org/t/<TOKEN>/owner
_TOKEN_SEGMENT = re.compile(r"(?:^|/)t/[^/]+")


def redact_url(raw: str) -> str:
    """``raw`` with whatever could be a credential replaced by ``***`` (for messages)."""
    redacted = re.sub(r"#.*", "#***", raw, flags=re.DOTALL)  # a fragment can carry a token (#access_token=...)
    redacted = re.sub(r"(://)[^/@]*@", r"\1***@", redacted)
    redacted = re.sub(r"(/t/)[^/]+", r"\1***", redacted)
    return re.sub(r"\?.*", "?***", redacted) if "?" in redacted else redacted


def refuse_credentials(raw: str, what: str) -> None:
    """Exit 2 when a URL option carries a credential (user:password@, /t/TOKEN/, ?token=, #access_token=),
    never echoing it.

    A URL is printed in logs, summaries, plan files and process listings: no place for a secret.
    """
    if "://" not in raw:
        return
    refuse_bad_port(raw, what)  # first: the message below would show the port
    rest, _, fragment = raw.partition("://")[2].partition("#")
    netloc, _, path_and_query = rest.partition("/")
    path, _, query = path_and_query.partition("?")
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
    if "@" in netloc or _TOKEN_SEGMENT.match(path) or _SECRET_QUERY.search(query) or _SECRET_QUERY.search(fragment):
        raise UsageError(
            f"{what} {redact_url(raw)} carries a credential in the URL; refused",
            hint="put tokens in the documented environment variable or use --token-file",
        )


def refuse_bad_port(raw: str, what: str) -> None:
    """Exit 2 when a URL option's port is not a number from 0 to 65535, without echoing it: a value
    pasted in the wrong place may be a secret, and urllib's own complaint quotes it (as exit 1)."""
    if "://" not in raw:
        return
    try:
        parts = urlsplit(raw.strip())
    except ValueError:
        return  # not a URL urllib can read ("https://["): the option's own check says so
    try:
        parts.port  # noqa: B018 -- reading it is the check
    except ValueError:
        host = parts.netloc.rpartition("@")[2]
        shown = redact_url(raw.replace(host, f"{host.rpartition(':')[0]}:***", 1))
        raise UsageError(
            f"{what} {shown} has an invalid port (not shown); refused",
            hint="write the port as a number from 1 to 65535 (https://HOST:8443/...), or leave it out",
        ) from None


def check_url_option(raw: str, what: str) -> str:
    """An http(s) URL option such as ``--api-url``: exit 2 at once when it is not one, or carries a secret."""
    refuse_credentials(raw, what)
    try:
        parts = urlsplit(raw.strip())
    except ValueError:
        parts = urlsplit("")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{what} {redact_url(raw)!r} is not an http(s) URL", hint="e.g. --api-url https://repo.example.com/api"
        )
    return raw.strip()


def check_channel_url(raw: str, what: str) -> str:
    """A channel URL that is signed into attestations and written to the ledger (``--attest-channel-url``):
    an absolute http(s) or file URL with no user:password@, no query and no ``/t/<token>/`` segment.

    Exit 2 otherwise, never echoing the credential: what is signed is public and permanent.
    A control character (a newline, ESC ...) is refused too: it would be signed as is and would
    forge lines or terminal sequences wherever the statement is shown.
    """
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in raw):
        raise UsageError(
            f"{what} contains a control character (a newline, tab, ESC ...); refused",
            hint=f"name the public channel URL on one line, e.g. {what} https://conda.example.com/my-channel",
        )
    refuse_bad_port(raw, what)
    text = raw.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = urlsplit("")
    scheme = parts.scheme.lower()
    if "@" in parts.netloc or parts.query or "?" in text or "#" in text or re.search(r"(?:^|/)t/[^/]+", parts.path):
        raise UsageError(
            f"{what} {redact_url(text)} carries a credential (user:password@, a query, a #fragment or /t/<token>/); "
            "refused",
            hint="this URL is signed into each attestation and kept in the ledger: name the public channel URL",
        )
    if not ((scheme in ("http", "https") and parts.hostname) or (scheme == "file" and parts.path.startswith("/"))):
        raise UsageError(
            f"{what} {redact_url(text)!r} is not an absolute http(s) or file URL",
            hint=f"e.g. {what} https://conda.example.com/my-channel",
        )
    return text


# -- keeping credentials out of a build's reach ---------------------------------------------------

#: secret variables taken out of ``os.environ`` before a build ran; tokens are still read from here
_HELD: dict[str, str] = {}


def process_environ() -> dict[str, str]:
    """The environment tokens are read from: ``os.environ`` plus what was taken out of it for a build."""
    return {**_HELD, **os.environ}


def _initial_environ_block() -> tuple[int, int] | None:
    """Where the kernel's copy of this process's initial environment lives (``/proc/self/environ``)."""
    try:
        stat = Path("/proc/self/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces
    try:
        return int(fields[50 - 3]), int(fields[51 - 3])  # proc(5): (50) env_start, (51) env_end
    except (IndexError, ValueError):
        return None


def _blank_initial_environ(names: set[str]) -> bool:
    """Overwrite the values of ``names`` in the initial environment block, in place.

    ``del os.environ[...]`` only unlinks a variable from the C ``environ`` array: the bytes stay
    in the block ``/proc/<pid>/environ`` shows to any process of the same user (and to root).
    """
    where = _initial_environ_block()
    if where is None or where[1] <= where[0]:
        return False
    start, end = where
    try:
        with Path("/proc/self/mem").open("r+b", buffering=0) as mem:
            mem.seek(start)
            block = bytearray(mem.read(end - start))
            offset = 0
            for entry in bytes(block).split(b"\0"):
                name, eq, _value = entry.partition(b"=")
                if eq and name.decode("utf-8", "replace") in names:
                    value_at = offset + len(name) + 1
                    block[value_at : offset + len(entry)] = b"\0" * (len(entry) - len(name) - 1)
                offset += len(entry) + 1
            mem.seek(start)
            mem.write(bytes(block))
    except (OSError, ValueError):
        return False
    return True


def _set_not_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): other processes of this user cannot read our memory or environ."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def ancestors_holding(values: Sequence[str]) -> list[int]:
    """The pids of this process's ancestors whose environment (where readable) holds one of ``values``."""
    found: list[int] = []
    pid = os.getppid()
    wanted = [v.encode() for v in values if len(v) >= MIN_SCRUB_LENGTH]
    while pid > 1 and wanted:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            environ = b""
        if any(value in environ for value in wanted):
            found.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def _kept_from_builds(name: str, value: str) -> bool:
    return is_secret_name(name) and bool(value)


def environ_for_build() -> dict[str, str]:
    """The environment a build gets once :func:`isolate_secrets_for_build` has run, computed now
    (for a build process started ahead of it, which must never see a secret either)."""
    return {name: value for name, value in os.environ.items() if not _kept_from_builds(name, value)}


def isolate_secrets_for_build() -> list[str]:
    """Before untrusted recipe code runs as our child: take every secret variable out of
    ``os.environ`` (children inherit none; tokens are still read via :func:`process_environ`),
    blank it in our initial environment block (``/proc/<cipub>/environ`` no longer shows it) and make
    the process non-dumpable. Returns the names taken. Linux does all three; elsewhere the first.
    """
    taken = {name: value for name, value in os.environ.items() if _kept_from_builds(name, value)}
    for name, value in taken.items():
        _HELD[name] = value
        if len(value.strip()) >= MIN_SCRUB_LENGTH:
            Secret(value.strip(), name)  # scrubbed and masked from now on
        del os.environ[name]
    if taken:
        _blank_initial_environ(set(taken))
    _set_not_dumpable()
    return sorted(taken)


def held_secret_values() -> list[str]:
    return [v.strip() for v in _HELD.values()]

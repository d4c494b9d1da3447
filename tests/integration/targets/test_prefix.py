"""prefix.dev: the protocol server in tests/servers is proved faithful by rattler-build's own prefix
uploader (API key and trusted publishing), then cipub runs the issue-4 flows and trusted
publishing against it, with a local OIDC issuer whose signed tokens the server verifies.

rattler-build's uploaders hold the GIL while they run, so they run in a subprocess here (the
servers live in this process)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult
from tests.servers.oidc_issuer import OidcIssuer
from tests.servers.prefix_server import PrefixServer, TrustedPublisher
from tests.support import publish_flows
from tests.support.install import install_from
from tests.support.packages import make_package
from tests.support.prefix_target import API_KEY, prefix_target, shared_prefix
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration
Cipub = Callable[..., CliResult]
CI_VARIABLES = (
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "PREFIX_API_KEY",
    "PREFIX_DEV_ID_TOKEN",
    "PREFIX_ID_TOKEN",
)


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[TargetHandle]:
    with prefix_target(tmp_path, server=shared_prefix()) as h:
        yield h


def rattler_build_upload(
    package: Path, server: str, channel: str, env: dict[str, str], **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    code = (
        "import json, sys, rattler_build\n"
        "rattler_build.upload_package_to_prefix([sys.argv[1]], sys.argv[2], sys.argv[3], **json.loads(sys.argv[4]))\n"
    )
    import json

    clean = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", code, str(package), server, channel, json.dumps(kwargs)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- fidelity: rattler-build's uploader against the server --------------------------------------------
def test_rattler_build_uploader_with_an_api_key(handle: TargetHandle, tmp_path: Path) -> None:
    server = shared_prefix()
    channel = handle.url.rsplit("/", 1)[1]
    pkg = make_package(tmp_path / "p", "rb-prefix", "1.0", 0)
    first = rattler_build_upload(pkg, server.url, channel, {}, api_key=API_KEY)
    assert first.returncode == 0, first.stderr
    assert handle.state() == {"main": {f"noarch/{pkg.name}": publish_flows_sha(pkg)}}
    again = rattler_build_upload(pkg, server.url, channel, {}, api_key=API_KEY)
    assert again.returncode != 0 and "409" in again.stderr  # exists: the client's own conflict path
    skipped = rattler_build_upload(pkg, server.url, channel, {}, api_key=API_KEY, skip_existing=True)
    assert skipped.returncode == 0, skipped.stderr
    wrong = rattler_build_upload(pkg, server.url, channel, {}, api_key="pfx_wrong")
    assert wrong.returncode != 0 and "401" in wrong.stderr
    # and what it uploaded is a channel py-rattler installs from
    assert install_from(handle.install_url("main"), "rb-prefix", tmp_path / "env") == ["rb-prefix-1.0-h0000000_0"]


def publish_flows_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def oidc_server(tmp_path: Path) -> Iterator[tuple[OidcIssuer, PrefixServer]]:
    with OidcIssuer() as issuer:
        publisher = TrustedPublisher(
            issuer=issuer.url,
            audience="127.0.0.1",  # prefix.dev convention: the server's host for self-hosted servers
            claims={"repository": "acme/widgets", "workflow": "release"},
            channels={"tp", "tp-test"},
        )
        with PrefixServer(tmp_path / "srv", channels=["tp", "tp-test"], publishers=[publisher]) as server:
            yield issuer, server


def test_rattler_build_trusted_publishing_is_accepted(
    oidc_server: tuple[OidcIssuer, PrefixServer], tmp_path: Path
) -> None:
    issuer, server = oidc_server
    pkg = make_package(tmp_path / "p", "rb-tp", "1.0", 0)
    result = rattler_build_upload(pkg, server.url, "tp", issuer.github_env())
    assert result.returncode == 0, result.stderr
    assert server.truth()["tp"] == {f"noarch/{pkg.name}": publish_flows_sha(pkg)}
    assert issuer.issued[-1]["aud"] == "127.0.0.1"  # the audience rattler-build asked for: same rule as cipub


# -- cipub: the issue-4 flows ------------------------------------------------------------------------
def test_full_flow(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.build_upload_install_promote_rerun(cipub, handle, tmp_path)


def test_conflict(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.conflict_exits_6_and_changes_nothing(cipub, handle, tmp_path)


def test_promotion_touches_only_the_manifest(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.promotion_touches_only_the_manifest(cipub, handle, tmp_path)


def test_waits_for_the_servers_asynchronous_index(cipub: Cipub, tmp_path: Path) -> None:
    with PrefixServer(tmp_path / "slow", api_keys={API_KEY}, channels=["slow", "slow-test"], index_delay=1.5) as server:
        pkg = make_package(tmp_path / "p", "lagging", "1.0", 0)
        result = cipub(
            "upload", str(pkg), "--target", f"prefix+{server.url}/slow", cwd=tmp_path, env={"PREFIX_API_KEY": API_KEY}
        )
        assert result.code == 0, result.err


# -- cipub: trusted publishing -----------------------------------------------------------------------
def upload_tp(
    cipub: Cipub, server: PrefixServer, tmp_path: Path, env: dict[str, str], name: str = "tp-pkg"
) -> tuple[CliResult, Path]:
    pkg = make_package(tmp_path / name, name, "1.0", 0)
    work = tmp_path / f"work-{name}"
    work.mkdir()
    result = cipub("--debug", "upload", str(pkg), "--target", f"prefix+{server.url}/tp", cwd=work, env=env)
    return result, work


def test_github_actions_trusted_publishing(
    cipub: Cipub, oidc_server: tuple[OidcIssuer, PrefixServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, server = oidc_server
    monkeypatch.delenv("PREFIX_API_KEY", raising=False)
    result, work = upload_tp(cipub, server, tmp_path, issuer.github_env())
    assert result.code == 0, result.err
    assert list(server.truth()["tp-test"]) == ["noarch/tp-pkg-1.0-h0000000_0.conda"]
    [minted] = server.minted_tokens()  # the short-lived token the server handed out
    jwt = next(line for line in result.err.splitlines() if line.startswith("::add-mask::eyJ"))
    # Both the CI's OIDC token and the minted upload token are masked in the log, and appear nowhere else.
    masks = {line.removeprefix("::add-mask::") for line in result.err.splitlines() if line.startswith("::add-mask::")}
    assert minted in masks and jwt.removeprefix("::add-mask::") in masks
    unmasked = "\n".join(line for line in result.err.splitlines() if not line.startswith("::add-mask::"))
    for secret in (minted, issuer.request_token, *masks):
        assert secret not in result.out and secret not in unmasked
        assert all(secret not in p.read_text() for p in (work / "output").rglob("*.json"))


def test_gitlab_id_token_trusted_publishing(
    cipub: Cipub, oidc_server: tuple[OidcIssuer, PrefixServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, server = oidc_server
    monkeypatch.delenv("PREFIX_API_KEY", raising=False)
    token = issuer.mint("127.0.0.1")
    result, _ = upload_tp(cipub, server, tmp_path, {"GITLAB_CI": "true", "PREFIX_DEV_ID_TOKEN": token})
    assert result.code == 0, result.err
    assert token not in result.out + result.err
    assert server.truth()["tp-test"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "Signature verification failed"),
        ("expired", "expired"),
        ("audience", "Audience"),
        ("repository", "No trusted publisher"),
        ("issuer", "Unknown token issuer"),
    ],
)
def test_rejected_identity_tokens_exit_5_and_upload_nothing(
    cipub: Cipub,
    oidc_server: tuple[OidcIssuer, PrefixServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    reason: str,
) -> None:
    issuer, server = oidc_server
    monkeypatch.delenv("PREFIX_API_KEY", raising=False)
    token = {
        "forged": lambda: issuer.forge("127.0.0.1"),
        "expired": lambda: issuer.mint("127.0.0.1", expires_in=-120),
        "audience": lambda: issuer.mint("prefix.dev"),
        "repository": lambda: issuer.mint("127.0.0.1", repository="mallory/fork"),
        "issuer": lambda: issuer.mint("127.0.0.1", issuer="https://evil.example"),
    }[case]()
    result, work = upload_tp(cipub, server, tmp_path, {"PREFIX_DEV_ID_TOKEN": token})
    assert result.code == 5, result.err
    assert reason.lower() in result.err.lower()
    assert "trusted publisher" in result.err
    assert token not in result.out + result.err
    assert "Traceback" not in result.err.split("cipub: error:")[-1]
    assert server.truth() == {"tp": {}, "tp-test": {}}

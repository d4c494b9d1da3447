"""Issue 18: a URL is printed only through redact_url, so a credential in it (user:password@, a query
token, a #fragment token) never reaches a message, a hint, a log line or the --debug settings list."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cipub.channels.target import check_dependency_channel, parse_target
from cipub.core.errors import CipubError, NetworkError
from cipub.core.secrets import redact_url
from cipub.core.settings import describe, resolve
from cipub.core.transport import HttpClient
from tests.conftest import CliResult

SECRETS = ("hunter2pass", "QUERYSECRET", "FRAGSECRET")


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


def test_redact_url_hides_userinfo_query_and_fragment() -> None:
    shown = redact_url("quetz+https://alice:hunter2pass@host:8443/chan/x?token=QUERYSECRET#access_token=FRAGSECRET")
    _clean(shown)
    assert shown.startswith("quetz+https://***@host:8443/chan/x"), shown
    assert "alice" not in shown


@pytest.mark.parametrize(
    "raw",
    [
        "http://alice:hunter2pass@10.255.255.1:9/x",
        "http://10.255.255.1:9/x#FRAGSECRET",  # "cannot tell which server" printed it
        "http://10.255.255.1:9/x#access_token=FRAGSECRET",
        "http://somehost/a/b#FRAGSECRET",  # "expected exactly one path segment" printed it
        "https://somehost/x?QUERYSECRET",
        "https://somehost/x?x=1&token=QUERYSECRET",
        "quetz+https://host/chan#FRAGSECRET",  # was accepted, and shown in every message as the target
        "ftp://host/x?QUERYSECRET",
        "zzz+https://host/x#FRAGSECRET",
        "https://[#FRAGSECRET",
        "mychannel?token=QUERYSECRET",
        "mychannel#FRAGSECRET",
    ],
)
def test_target_errors_never_show_the_credential(raw: str) -> None:
    with pytest.raises(CipubError) as caught:
        parse_target(raw)
    assert caught.value.exit_code == 2
    _clean(caught.value.message + (caught.value.hint or ""))


def test_an_accepted_target_is_displayed_redacted() -> None:
    # /t/<token>/ in the middle of a path is not refused (only a leading one is), but never shown
    target = parse_target("artifactory+https://host/artifactory/t/QUERYSECRET/repo")
    _clean(target.display)
    assert parse_target("quetz+https://host/chan").display == "quetz+https://host/chan"
    assert parse_target("./my#chan").display == "./my#chan"  # a path is not a URL


def test_a_dependency_channel_error_never_shows_the_credential() -> None:
    with pytest.raises(CipubError) as caught:
        check_dependency_channel("quetz+https://host/chan#FRAGSECRET")
    _clean(caught.value.message + (caught.value.hint or ""))


def test_transport_errors_and_retry_logs_never_show_a_presigned_query(caplog: pytest.LogCaptureFixture) -> None:
    client = HttpClient(
        "http://server",
        retries=1,
        backoff=0.01,
        transport=httpx.MockTransport(lambda request: httpx.Response(503)),
        sleep=lambda _: None,
    )
    url = "http://server/bucket/pkg.conda?X-Amz-Signature=QUERYSECRET#FRAGSECRET"
    with caplog.at_level(logging.INFO, logger="cipub.core.transport"):
        with pytest.raises(NetworkError) as caught:
            client.request("GET", url)
        with pytest.raises(NetworkError) as downloaded:
            client.download(url, Path("/nonexistent/never-written"))
    _clean(caught.value.message + downloaded.value.message)
    assert "http://server/bucket/pkg.conda?***" in caught.value.message
    assert caplog.records, "the retry is logged"
    _clean("\n".join(record.getMessage() for record in caplog.records))


def test_debug_settings_list_redacts_url_settings(tmp_path: Path) -> None:
    settings = resolve(
        {},
        cwd=tmp_path,
        environ={"CIPUB_API_URL": "https://host/api#FRAGSECRET", "CIPUB_CHANNELS": "https://c/x#FRAGSECRET"},
    )
    lines = "\n".join(describe(settings))
    assert "https://host/api#***" in lines, lines
    _clean(lines)


def test_cli_never_prints_a_target_credential(cipub: Callable[..., CliResult], tmp_path: Path) -> None:
    for raw in ("http://10.255.255.1:9/x#FRAGSECRET", "https://somehost/x?QUERYSECRET"):
        result = cipub("status", "demo", "--target", raw, cwd=tmp_path)
        assert result.code == 2, result.err
        assert result.err.count("cipub: error:") == 1
        _clean(result.out + result.err)

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.errors import AuthError, UsageError
from cipub.core.secrets import Secret, install_masker, mask, read_token, scrub


def test_first_variable_wins_and_value_is_hidden() -> None:
    env = {"B": "second-value", "A": "first-value"}
    token = read_token(["A", "B"], environ=env)
    assert token is not None
    assert token.reveal() == "first-value"
    assert token.source == "A"
    assert "first-value" not in repr(token) + str(token) + f"{token}"
    assert scrub("leaked first-value here") == "leaked *** here"


def test_token_file_beats_environment(tmp_path: Path) -> None:
    f = tmp_path / "tok"
    f.write_text("from-file\n")
    token = read_token(["A"], token_file=f, environ={"A": "from-env"})
    assert token is not None and token.reveal() == "from-file"


def test_missing_token_names_the_variables() -> None:
    with pytest.raises(AuthError) as exc:
        read_token(["ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN"], environ={}, what="anaconda.org")
    assert "ANACONDA_API_TOKEN or BINSTAR_API_TOKEN" in exc.value.message
    assert exc.value.exit_code == 5


def test_empty_or_unreadable_token_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(AuthError, match="empty"):
        read_token(["A"], token_file=empty, environ={})
    with pytest.raises(UsageError, match="--token-file does not name a readable file") as err:
        read_token(["A"], token_file=tmp_path / "missing", environ={})
    assert "missing" not in err.value.message  # never the value: it may be the token


def test_a_token_passed_as_the_file_path_is_never_echoed() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm8vciJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    for value in (jwt, "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----\n", "a\0b"):
        with pytest.raises(UsageError) as err:
            read_token(["A"], token_file=Path(value), environ={}, option="--identity-token-file")
        shown = f"{err.value.message} {err.value.hint}"
        assert "--identity-token-file does not name a readable file" in shown
        assert "not shown" in shown and value.strip() not in shown and "MIGHAgEAMBMG" not in shown
        assert err.value.exit_code == 2
        assert "write the secret" in (err.value.hint or "")


def test_optional_token() -> None:
    assert read_token(["A"], environ={}, required=False) is None


def test_short_values_are_not_scrubbed() -> None:
    read_token(["A"], environ={"A": "ci"})
    assert scrub("cipub: error in ci") == "cipub: error in ci"


def test_each_secret_value_goes_to_the_installed_masker_once() -> None:
    masked: list[str] = []
    previous = install_masker(masked.append)
    try:
        Secret("masker-value-1", "A")
        Secret("masker-value-1", "B")  # the same value again: already masked
        read_token(["C"], environ={"C": "masker-value-2"})
        mask("explicit-value")  # what cipub.core.oidc uses for the tokens it mints
    finally:
        install_masker(previous)
    assert masked == ["masker-value-1", "masker-value-2", "explicit-value"]


def test_without_a_masker_secrets_are_still_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    # Library use (no CLI entry point): nothing is printed, and output is still scrubbed.
    previous = install_masker(None)
    try:
        Secret("unmasked-but-scrubbed", "A")
        mask("unmasked-but-scrubbed")
    finally:
        install_masker(previous)
    assert capsys.readouterr() == ("", "")
    assert scrub("x unmasked-but-scrubbed y") == "x *** y"


def test_redact_url_hides_a_fragment() -> None:
    """Red team: a #fragment (#access_token=...) in a target URL was printed as given."""
    from cipub.core.secrets import redact_url

    shown = redact_url("https://user:pw@host/ch#access_token=s3cret")
    assert "s3cret" not in shown and "pw" not in shown and shown.endswith("#***")


def test_a_signed_channel_url_with_a_fragment_is_refused_and_not_echoed() -> None:
    """Cold review: --attest-channel-url 'https://h/ch#s3cret' was signed into the statement and the ledger."""
    from cipub.core.errors import UsageError
    from cipub.core.secrets import check_channel_url

    with pytest.raises(UsageError) as refused:
        check_channel_url("https://example.com/ch#s3cret", "--attest-channel-url")
    assert "s3cret" not in str(refused.value) and "fragment" in str(refused.value)
    assert check_channel_url("https://example.com/ch", "--attest-channel-url") == "https://example.com/ch"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/ch\nverified: yes",
        "https://example.com/ch\x1b[2Jok",
        "https://example.com/ch\n",
        "https://example.com/\tch",
        "https://example.com/ch\x9b2J",
    ],
)
@pytest.mark.parametrize("form", ["flag", "env"])
def test_a_signed_channel_url_with_a_control_character_is_refused(
    cipub,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    url: str,
    form: str,
) -> None:
    """Cold review: a newline or ESC in --attest-channel-url was accepted and signed into every statement."""
    from tests.support.packages import make_package

    pkg = make_package(tmp_path / "build")
    args = ["upload", str(pkg), "--target", "./chan", "--attest", "keyless"]
    if form == "flag":
        result = cipub(*args, "--attest-channel-url", url, cwd=tmp_path)
    else:
        result = cipub(*args, cwd=tmp_path, env={"CIPUB_ATTEST_CHANNEL_URL": url})
    assert result.code == 2, result.out + result.err
    assert "control character" in result.err and "hint:" in result.err
    assert "\x1b" not in result.err and "verified: yes" not in result.err
    assert not (tmp_path / "chan").exists()

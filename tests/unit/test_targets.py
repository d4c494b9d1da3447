from __future__ import annotations

import pytest

from cipub.channels import parse_target
from cipub.core.errors import UsageError


@pytest.mark.parametrize(
    ("raw", "kind", "base", "name"),
    [
        ("./channel", "local", "channel", ""),
        ("/srv/conda", "local", "/srv/conda", ""),
        ("file:///srv/conda", "local", "/srv/conda", ""),
        ("https://anaconda.org/my-org", "anaconda", "https://api.anaconda.org", "my-org"),
        ("anaconda+http://127.0.0.1:8080/me", "anaconda", "http://127.0.0.1:8080", "me"),
        ("psm+https://psm.example.com/team", "psm", "https://psm.example.com", "team"),
        ("quetz+http://localhost:8000/chan", "quetz", "http://localhost:8000", "chan"),
        ("https://prefix.dev/my-channel", "prefix", "https://prefix.dev", "my-channel"),
        ("prefix+http://127.0.0.1:9/ch", "prefix", "http://127.0.0.1:9", "ch"),
        (
            "artifactory+https://jf.example.com/artifactory/conda-local",
            "artifactory",
            "https://jf.example.com/artifactory",
            "conda-local",
        ),
        ("s3://bucket/prefix/sub", "s3", "bucket", "prefix/sub"),
    ],
)
def test_forms(raw: str, kind: str, base: str, name: str) -> None:
    t = parse_target(raw)
    assert (t.kind, t.base, t.name) == (kind, base, name)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("file://", "absolute path"),
        ("file://relative/dir", "absolute path"),
        ("https://example.com/x", "cannot tell which server"),
        ("ftp://host/x", "unsupported"),
        ("quetz+ftp://host/x", "unsupported scheme"),
        ("bogus+https://host/x", "unknown target kind"),
        ("quetz+https://host", "names no channel"),
        ("https://user:secret@anaconda.org/me", "credential"),
        ("https://anaconda.org/me?token=abc", "credential"),
        ("S3://@", "credential"),
        ("quetz+https://@host/c", "credential"),
        ("https://anaconda.org/a/b", "exactly one path segment"),
    ],
)
def test_bad_forms(raw: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as exc:
        parse_target(raw)
    assert "secret" not in str(exc.value)

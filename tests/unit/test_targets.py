from __future__ import annotations

import pytest

from cipub.channels import parse_target
from cipub.core.errors import UsageError
from tests.conftest import REPO


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
        ("https://anaconda.org/a/b/c", "optionally with /LABEL or /label/LABEL"),
        ("https://anaconda.org/a/label", "optionally with /LABEL or /label/LABEL"),
        ("quetz://host", "names no channel"),
    ],
)
def test_bad_forms(raw: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as exc:
        parse_target(raw)
    assert "secret" not in str(exc.value)


# -- rattler-build's `publish --to` spellings are aliases (issue 11 item 3) ----------------------


@pytest.mark.parametrize(
    ("raw", "kind", "base", "name", "label"),
    [
        ("quetz://quetz.example.org/chan", "quetz", "https://quetz.example.org", "chan", None),
        ("https://quetz.example.org/chan", "quetz", "https://quetz.example.org", "chan", None),
        (
            "artifactory://jf.example.com/artifactory/conda",
            "artifactory",
            "https://jf.example.com/artifactory",
            "conda",
            None,
        ),
        ("prefix://prefix.example.org/ch", "prefix", "https://prefix.example.org", "ch", None),
        ("https://anaconda.org/me/staging", "anaconda", "https://api.anaconda.org", "me", "staging"),
        ("https://anaconda.org/me/label/staging", "anaconda", "https://api.anaconda.org", "me", "staging"),
        ("https://conda.anaconda.org/me/label/rc", "anaconda", "https://api.anaconda.org", "me", "rc"),
    ],
)
def test_rattler_build_target_spellings(raw: str, kind: str, base: str, name: str, label: str | None) -> None:
    t = parse_target(raw)
    assert (t.kind, t.base, t.name, t.label) == (kind, base, name, label)


@pytest.mark.parametrize("word", ["conda-forge", "my-channel", "channel"])
def test_a_bare_word_target_is_refused_with_a_hint(cipub, tmp_path, word: str) -> None:  # type: ignore[no-untyped-def]
    recipe = REPO / "recipes-template" / "v1-noarch-generic"
    result = cipub("build", str(recipe), "--target", word, "--dry-run", cwd=tmp_path)
    assert result.code == 2, result.err
    assert "neither a URL nor a path" in result.err
    assert f"--target ./{word}" in result.err  # the hint: how to say "a directory" explicitly
    assert not (tmp_path / word).exists()


def test_the_label_in_a_target_url_is_the_staging_label(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cipub.core.settings import resolve
    from cipub.workflows.target import with_target_label

    s = with_target_label(resolve({"target": "https://anaconda.org/me/label/rc"}, environ={}, cwd=tmp_path))
    assert s.label == "rc"
    assert "target URL" in str(s.origin("label"))
    same = with_target_label(resolve({"target": "https://anaconda.org/me/rc", "label": "rc"}, environ={}, cwd=tmp_path))
    assert same.label == "rc"
    with pytest.raises(UsageError, match="names label 'rc'"):
        with_target_label(resolve({"target": "https://anaconda.org/me/rc", "label": "dev"}, environ={}, cwd=tmp_path))


@pytest.mark.parametrize("raw", ["quetz://h/c", "artifactory://h/r", "prefix://h/c"])
def test_rattler_build_target_spellings_are_not_dependency_channels(raw: str) -> None:
    from cipub.channels.target import check_dependency_channel

    with pytest.raises(UsageError, match="is a publish target"):
        check_dependency_channel(raw)

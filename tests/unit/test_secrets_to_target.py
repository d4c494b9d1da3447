"""A credential in ``promote --to-target`` (or CIPUB_TO_TARGET) is refused before anything is printed,
the refusal names --to-target, and the secret never reaches stdout or stderr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from tests.conftest import CliResult
from tests.support.packages import make_package

Cli = Callable[..., CliResult]
CANARY = "SEKXYZcanary42"

DESTINATIONS = [
    f"https://anaconda.org/t/{CANARY}/owner",
    f"https://user:{CANARY}@repo.example.com/owner",
    f"https://repo.example.com/owner?token={CANARY}",
    f"https://repo.example.com/owner#access_token={CANARY}",
    f"s3://AKIA:{CANARY}@bucket/channel",
]


@pytest.fixture
def staged(tmp_path: Path, cipub: Cli) -> Path:
    """A local channel with one file in its test label (so promote has something to promote)."""
    pkg = make_package(tmp_path / "build")
    manifest = Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(pkg))])
    path = manifest_mod.write(manifest, tmp_path / "output" / "cipub-manifest.json")
    up = cipub("upload", "--manifest", str(path), "--target", "./chan", cwd=tmp_path)
    assert up.code == 0, up.err
    return path


@pytest.mark.parametrize("dest", DESTINATIONS)
@pytest.mark.parametrize("form", ["flag", "env"])
def test_a_credential_in_the_to_target_is_refused_unseen(
    tmp_path: Path, cipub: Cli, staged: Path, dest: str, form: str
) -> None:
    args = ["promote", "--manifest", str(staged), "--target", "./chan"]
    if form == "flag":
        result = cipub(*args, "--to-target", dest, cwd=tmp_path)
    else:
        result = cipub(*args, cwd=tmp_path, env={"CIPUB_TO_TARGET": dest})
    assert result.code == 2, result.out + result.err
    assert CANARY not in result.out + result.err
    assert "--to-target" in result.err and "carries a credential" in result.err
    assert "promoting" not in result.out + result.err  # refused before the promotion says anything
    assert "Traceback" not in result.err

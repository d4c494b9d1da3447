"""`cipub ci verify`: a staged file must be in the label with the built sha256, and install from it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from tests.support.packages import make_package

pytestmark = pytest.mark.integration


def stage(
    tmp_path: Path, cipub: Callable[..., Any], *, payload: str = "hello", depends: list[str] | None = None
) -> Path:
    """Build a noarch package, upload it to label test of a local channel; return the manifest."""
    dist = tmp_path / "dist"
    pkg = make_package(dist / "noarch", "verify-me", "1.0", 0, payload=payload, depends=depends)
    manifest = dist / "cipub-manifest.json"
    manifest_mod.write(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(pkg))]), manifest)
    result = cipub("upload", "--manifest", str(manifest), "--target", str(tmp_path / "channel"), cwd=tmp_path)
    assert result.code == 0, result.err
    return manifest


def test_verify_installs_from_the_label(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    manifest = stage(tmp_path, cipub)
    result = cipub(
        "ci", "verify", "-M", str(manifest), "--target", str(tmp_path / "channel"), "--mode", "isolated", cwd=tmp_path
    )
    assert result.code == 0, result.err
    assert "ok     noarch/verify-me-1.0-" in result.out and "installed" in result.out


def test_verify_fails_when_the_file_is_not_in_the_label(
    tmp_path: Path, cipub: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = stage(tmp_path, cipub)
    # cipub writes a local channel's index itself: a file not shown now never will be, so verify
    # fails at once instead of waiting out index_wait (60 s by default) for a server's index.
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    result = cipub(
        "ci",
        "verify",
        "-M",
        str(manifest),
        "--target",
        str(tmp_path / "channel"),
        "--label",
        "main",
        "--mode",
        "files",
        cwd=tmp_path,
    )
    assert result.code == 8
    assert "not in label main" in result.err and "Traceback" not in result.err
    assert slept == []


def test_verify_waits_for_a_server_side_index_to_show_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the server indexes in the background, a file not shown yet is looked for again
    (bounded by index_wait), each time reading the server afresh."""
    from cipub.channels.base import Capabilities
    from cipub.workflows import verify

    entry = ArtifactEntry.from_artifact(read_artifact(make_package(tmp_path, "wait-me", "1.0", 0)))
    answers = iter(["not in label test", "not in label test", "on channel"])

    class Channel:
        capabilities = Capabilities(server_side_index=True, async_index=True)
        forgotten = 0

        def _forget_batch(self) -> None:
            self.forgotten += 1

    def check(manifest: Manifest, channel: object, label: str) -> list[verify.Checked]:
        state = next(answers)
        return [verify.Checked(entry, state, state == "on channel")]

    slept: list[float] = []
    monkeypatch.setattr(verify, "check_on_channel", check)
    monkeypatch.setattr("time.sleep", slept.append)
    channel = Channel()
    results = verify._wait_on_channel(Manifest(artifacts=[entry]), channel, "test", 60.0)  # type: ignore[arg-type]
    assert [(r.state, r.ok) for r in results] == [("on channel", True)]
    assert slept == [1.0] and channel.forgotten == 2  # asked 3 times, read afresh twice


def test_verify_fails_on_different_bytes_under_the_same_name(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    manifest = stage(tmp_path, cipub)
    # A rebuild with other content but the same file name: the manifest no longer matches the label.
    other = make_package(tmp_path / "other" / "noarch", "verify-me", "1.0", 0, payload="different")
    data = manifest_mod.load(manifest)
    data.artifacts = [ArtifactEntry.from_artifact(read_artifact(other))]
    manifest_mod.write(data, manifest)
    result = cipub(
        "ci", "verify", "-M", str(manifest), "--target", str(tmp_path / "channel"), "--mode", "files", cwd=tmp_path
    )
    assert result.code == 8
    assert "sha256" in result.err


def test_verify_reports_what_cannot_be_installed(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    manifest = stage(tmp_path, cipub, depends=["no-such-dependency-anywhere >=1"])
    result = cipub(
        "ci", "verify", "-M", str(manifest), "--target", str(tmp_path / "channel"), "--mode", "isolated", cwd=tmp_path
    )
    assert result.code == 8
    assert "cannot install verify-me ==1.0" in result.err


def test_verify_with_github_outputs_and_summary(
    tmp_path: Path, cipub: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = stage(tmp_path, cipub)
    out, summary = tmp_path / "gh_out", tmp_path / "gh_summary"
    out.touch()
    summary.touch()
    result = cipub(
        "ci",
        "verify",
        "-M",
        str(manifest),
        "--target",
        str(tmp_path / "channel"),
        "--mode",
        "isolated",
        cwd=tmp_path,
        env={"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.code == 0, result.err
    assert "verified<<" in out.read_text()
    assert "| test | installed |" in summary.read_text()

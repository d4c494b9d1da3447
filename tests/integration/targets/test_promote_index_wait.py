"""Real-service readiness (issue 18): servers index in the background (Artifactory documents up to
30 s), so ``cipub promote`` reports success only once the ``--to`` label's conda index lists the
promoted files, waiting at most ``index-wait`` seconds (exit 8 after that, and a re-run converges).
The Artifactory protocol server keeps a copied file out of repodata.json for ``index_delay`` seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from tests.servers.artifactory_server import ArtifactoryServer
from tests.support import artifactory_target
from tests.support.packages import make_package

pytestmark = pytest.mark.integration
ENV = {"ARTIFACTORY_TOKEN": artifactory_target.TOKEN}


def staged(tmp_path: Path, cipub: Callable[..., Any], art: ArtifactoryServer) -> tuple[Path, str, Path]:
    for label in ("main", "test"):
        art.create_repo(artifactory_target.repo_for("idx", label))
    pkg = make_package(tmp_path / "dist" / "noarch", "index-me", "1.0", 0)
    manifest = tmp_path / "dist" / "cipub-manifest.json"
    manifest_mod.write(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(pkg))]), manifest)
    target = f"artifactory+{art.url}/idx"
    uploaded = cipub("upload", "--manifest", str(manifest), "--target", target, cwd=tmp_path, env=ENV)
    assert uploaded.code == 0, uploaded.err
    return manifest, target, pkg


def main_index(art: ArtifactoryServer) -> dict[str, Any]:
    """What a conda client sees in label main right now."""
    url = f"{art.url}/api/conda/{artifactory_target.repo_for('idx', 'main')}/noarch/repodata.json"
    repodata = httpx.get(url).json()
    return {**repodata.get("packages", {}), **repodata.get("packages.conda", {})}


def test_promote_returns_once_the_index_lists_the_files(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    with ArtifactoryServer(tmp_path / "server", tokens={artifactory_target.TOKEN}, index_delay=3.0) as art:
        manifest, target, pkg = staged(tmp_path, cipub, art)
        env = {**ENV, "CIPUB_INDEX_WAIT": "120"}
        result = cipub("promote", "--manifest", str(manifest), "--target", target, cwd=tmp_path, env=env)
        assert result.code == 0, result.err
        listed = main_index(art)  # read the moment promote returned
    assert pkg.name in listed, "promote reported success before the index listed the file"
    assert listed[pkg.name]["sha256"] == read_artifact(pkg).sha256
    assert artifactory_target.TOKEN not in result.out + result.err


def test_an_index_that_never_lists_the_file_is_exit_8_and_a_rerun_converges(
    tmp_path: Path, cipub: Callable[..., Any]
) -> None:
    with ArtifactoryServer(tmp_path / "server", tokens={artifactory_target.TOKEN}, index_delay=3600.0) as art:
        manifest, target, pkg = staged(tmp_path, cipub, art)
        env = {**ENV, "CIPUB_INDEX_WAIT": "1"}
        args = ("promote", "--manifest", str(manifest), "--target", target)
        result = cipub(*args, cwd=tmp_path, env=env)
        assert result.code == 8, result.err
        assert "conda index" in result.err and pkg.name in result.err and "re-run" in result.err
        art.index_now()  # the background indexer catches up
        again = cipub(*args, cwd=tmp_path, env=env)
    assert again.code == 0, again.err
    assert "already" in again.out + again.err


def staged_locally(tmp_path: Path, cipub: Callable[..., Any], art: ArtifactoryServer) -> tuple[Path, Path]:
    """A package staged in the zero-config local channel; the Artifactory destination's repos made."""
    for label in ("main", "test"):
        art.create_repo(artifactory_target.repo_for("idx", label))
    pkg = make_package(tmp_path / "dist" / "noarch", "index-me", "1.0", 0)
    manifest = tmp_path / "dist" / "cipub-manifest.json"
    manifest_mod.write(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(pkg))]), manifest)
    uploaded = cipub("upload", "--manifest", str(manifest), cwd=tmp_path)
    assert uploaded.code == 0, uploaded.err
    return manifest, pkg


TO_ENV = {"CIPUB_TO_TOKEN": artifactory_target.TOKEN}


def test_cross_target_promote_returns_once_the_destination_index_lists_the_files(
    tmp_path: Path, cipub: Callable[..., Any]
) -> None:
    with ArtifactoryServer(tmp_path / "server", tokens={artifactory_target.TOKEN}, index_delay=3.0) as art:
        manifest, pkg = staged_locally(tmp_path, cipub, art)
        env = {**TO_ENV, "CIPUB_INDEX_WAIT": "120"}
        args = ("promote", "--manifest", str(manifest), "--to-target", f"artifactory+{art.url}/idx")
        result = cipub(*args, cwd=tmp_path, env=env)
        assert result.code == 0, result.err
        listed = main_index(art)  # read the moment promote returned
    assert pkg.name in listed, "a cross-target promote reported success before the destination's index listed it"
    assert listed[pkg.name]["sha256"] == read_artifact(pkg).sha256
    assert artifactory_target.TOKEN not in result.out + result.err


def test_a_destination_index_that_never_lists_the_file_is_exit_8_and_a_rerun_converges(
    tmp_path: Path, cipub: Callable[..., Any]
) -> None:
    with ArtifactoryServer(tmp_path / "server", tokens={artifactory_target.TOKEN}, index_delay=3600.0) as art:
        manifest, pkg = staged_locally(tmp_path, cipub, art)
        env = {**TO_ENV, "CIPUB_INDEX_WAIT": "1"}
        args = ("promote", "--manifest", str(manifest), "--to-target", f"artifactory+{art.url}/idx")
        result = cipub(*args, cwd=tmp_path, env=env)
        assert result.code == 8, result.err
        assert "conda index" in result.err and pkg.name in result.err and "re-run" in result.err
        art.index_now()
        again = cipub(*args, cwd=tmp_path, env=env)
    assert again.code == 0, again.err
    assert "already" in again.out + again.err

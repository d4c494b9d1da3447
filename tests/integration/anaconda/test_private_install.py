"""Real-service readiness (issue 18): anaconda.org serves private channels to conda clients only
through the token-in-path form ``conda.anaconda.org/t/<TOKEN>/<owner>/...`` (the form conda and
anaconda-client use). The protocol server, with anonymous reads off, answers 401 without it (and to
a bad token); ``ci verify --mode isolated`` installs from the private label through it, promote's
index wait reads label main through it, and the token never shows in cipub's output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from tests.support.anaconda_target import TOKEN, anaconda_server, anaconda_target
from tests.support.packages import make_package

pytestmark = pytest.mark.integration


def test_verify_installs_from_a_private_anaconda_label(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    pkg = make_package(tmp_path / "dist" / "noarch", "private-ac", "1.0", 0)
    manifest = tmp_path / "dist" / "cipub-manifest.json"
    manifest_mod.write(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(pkg))]), manifest)
    with (
        anaconda_server(tmp_path / "server", anonymous_read=False) as server,
        anaconda_target(tmp_path, server=server) as handle,
    ):
        args = ("--manifest", str(manifest), "--target", handle.url)
        uploaded = cipub("upload", *args, cwd=tmp_path, env=handle.env)
        assert uploaded.code == 0, uploaded.err
        repodata = f"{handle.owner}/label/test/noarch/repodata.json"
        assert httpx.get(f"{server.url}/{repodata}").status_code == 401  # anonymous reads are off
        assert httpx.get(f"{server.url}/t/not-the-token/{repodata}").status_code == 401
        assert httpx.get(f"{server.url}/t/{TOKEN}/{repodata}").status_code == 200

        status = cipub("status", "private-ac", "--target", handle.url, cwd=tmp_path, env=handle.env)
        verified = cipub("ci", "verify", *args, "--mode", "isolated", cwd=tmp_path, env=handle.env)
        # promote waits for label main's conda index, read as a conda client reads a private channel
        promoted = cipub("promote", *args, "--verbose", cwd=tmp_path, env=handle.env)
        assert promoted.code == 0, promoted.err
        assert httpx.get(f"{server.url}/t/{TOKEN}/{handle.owner}/noarch/repodata.json").json()["packages.conda"]
    assert status.code == 0, status.err
    assert "staged" in status.out
    assert verified.code == 0, verified.out + verified.err
    assert "installed" in verified.out
    for result in (uploaded, status, verified, promoted):
        assert TOKEN not in result.out + result.err

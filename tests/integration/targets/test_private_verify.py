"""Real-service readiness (issue 18): ``ci verify --mode install`` installs from a private label.

Test servers with anonymous reads turned off (Artifactory ``anonymous_read=False``, prefix.dev
private channels): without the target's credentials py-rattler gets 401; cipub passes them, bound
to the server's host. (Quetz: tests/integration/quetz/test_quetz_private_verify.py.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from tests.servers.artifactory_server import ArtifactoryServer
from tests.servers.prefix_server import PrefixServer
from tests.support import artifactory_target, prefix_target
from tests.support.packages import make_package

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def private_target(kind: str, root: Path) -> Iterator[tuple[str, dict[str, str], str]]:
    """(--target, env, anonymous URL of label test's noarch/repodata.json) on a private server."""
    if kind == "artifactory":
        with ArtifactoryServer(root, tokens={artifactory_target.TOKEN}, anonymous_read=False) as art:
            for label in ("main", "test"):
                art.create_repo(artifactory_target.repo_for("priv", label))
            yield (
                f"artifactory+{art.url}/priv",
                {"ARTIFACTORY_TOKEN": artifactory_target.TOKEN},
                f"{art.url}/api/conda/{artifactory_target.repo_for('priv', 'test')}/noarch/repodata.json",
            )
    else:
        with PrefixServer(root, api_keys={prefix_target.API_KEY}) as pfx:
            for label in ("main", "test"):
                pfx.create_channel(prefix_target.label_channel("priv", label), private=True)
            yield (
                f"prefix+{pfx.url}/priv",
                {"PREFIX_API_KEY": prefix_target.API_KEY},
                f"{pfx.url}/{prefix_target.label_channel('priv', 'test')}/noarch/repodata.json",
            )


@pytest.mark.parametrize("kind", ["artifactory", "prefix"])
def test_verify_installs_from_a_private_label(kind: str, tmp_path: Path, cipub: Callable[..., Any]) -> None:
    pkg = make_package(tmp_path / "dist" / "noarch", "private-me", "1.0", 0)
    manifest = tmp_path / "dist" / "cipub-manifest.json"
    manifest_mod.write(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(pkg))]), manifest)
    with private_target(kind, tmp_path / "server") as (target, env, anonymous_url):
        uploaded = cipub("upload", "--manifest", str(manifest), "--target", target, cwd=tmp_path, env=env)
        assert uploaded.code == 0, uploaded.err
        assert httpx.get(anonymous_url).status_code == 401  # anonymous reads are off
        result = cipub(
            "ci", "verify", "-M", str(manifest), "--target", target, "--mode", "isolated", cwd=tmp_path, env=env
        )
    assert result.code == 0, result.err
    assert "installed" in result.out
    assert all(secret not in result.out + result.err for secret in env.values())

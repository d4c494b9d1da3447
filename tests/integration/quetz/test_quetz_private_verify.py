"""Real-service readiness (issue 18): ``ci verify --mode install`` reads a private label.

On a real Quetz with a private channel (anonymous reads off), the label's repodata and packages
answer only with the API key: verify must send it to py-rattler, bound to the Quetz host.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from tests.support.packages import make_package
from tests.support.quetz import QuetzServer
from tests.support.quetz_target import create_channel, new_channel_name

pytestmark = pytest.mark.integration


def test_verify_installs_from_a_private_label(
    quetz_server: QuetzServer, tmp_path: Path, cipub: Callable[..., Any]
) -> None:
    channel = new_channel_name()
    create_channel(quetz_server, channel, private=True)
    target = f"{quetz_server.url.replace('http://', 'quetz+http://', 1)}/{channel}"
    env = {"QUETZ_API_KEY": quetz_server.api_key}
    pkg = make_package(tmp_path / "dist" / "noarch", "private-me", "1.0", 0)
    manifest = tmp_path / "dist" / "cipub-manifest.json"
    manifest_mod.write(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(pkg))]), manifest)
    uploaded = cipub("upload", "--manifest", str(manifest), "--target", target, cwd=tmp_path, env=env)
    assert uploaded.code == 0, uploaded.err
    # anonymous reads are off: without the key the label's index is not served
    anonymous = httpx.get(f"{quetz_server.url}/get/{channel}-test/noarch/repodata.json")
    assert anonymous.status_code in (401, 403, 404), anonymous.status_code
    result = cipub("ci", "verify", "-M", str(manifest), "--target", target, "--mode", "isolated", cwd=tmp_path, env=env)
    assert result.code == 0, result.err
    assert "installed" in result.out
    assert quetz_server.api_key not in result.out + result.err

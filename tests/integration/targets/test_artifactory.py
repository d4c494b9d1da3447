"""Artifactory: the protocol server in tests/servers is proved faithful by rattler-build's own
Artifactory uploader, then cipub runs the issue-4 flows against it. Its fidelity otherwise rests on
JFrog's REST documentation (no Artifactory runs here).

rattler-build's uploader holds the GIL while it runs, so it runs in a subprocess."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from rattler_build import assemble_package

from tests.conftest import CliResult
from tests.servers.artifactory_server import ArtifactoryServer
from tests.support import publish_flows
from tests.support.artifactory_target import TOKEN, artifactory_target, shared_artifactory
from tests.support.install import install_from
from tests.support.packages import make_package
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration
Cipub = Callable[..., CliResult]


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[TargetHandle]:
    with artifactory_target(tmp_path, server=shared_artifactory()) as h:
        yield h


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_with_about(tmp_path: Path, name: str) -> Path:
    """rattler-build's Artifactory uploader reads info/about.json, so give the package one."""
    files = tmp_path / "files" / "share" / name
    files.mkdir(parents=True)
    (files / "data.txt").write_text(name)
    result = assemble_package(
        name=name,
        version="1.0",
        target_platform="noarch",
        build_string="h0000000_0",
        output_dir=tmp_path / "out",
        files_dir=tmp_path / "files",
        noarch="generic",
        summary=f"{name} for the Artifactory fidelity test",
        license="MIT",
        compression_level=1,
    )
    return Path(result.path)


def test_rattler_build_uploader_against_the_server(handle: TargetHandle, tmp_path: Path) -> None:
    server = shared_artifactory()
    repo = handle.url.rsplit("/", 1)[1]
    pkg = package_with_about(tmp_path, "rb-art")
    code = (
        "import sys, rattler_build\n"
        "rattler_build.upload_package_to_artifactory([sys.argv[1]], sys.argv[2], sys.argv[3], token=sys.argv[4])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(pkg), f"{server.url}/", repo, TOKEN],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert handle.state() == {"main": {f"noarch/{pkg.name}": sha(pkg)}}
    # Its PUT streamed the body (chunked, no checksum header): the server stored it whole.
    assert ("PUT", f"/artifactory/{repo}/noarch/{pkg.name}") in server.requests
    # cipub reads what rattler-build wrote: same file, same sha256, no second upload.
    assert install_from(handle.install_url("main"), "rb-art", tmp_path / "env") == ["rb-art-1.0-h0000000_0"]


def test_server_rejects_a_wrong_checksum_header(tmp_path: Path) -> None:
    with ArtifactoryServer(tmp_path / "srv", repos=["r"], tokens={"t"}) as server:
        response = httpx.put(
            f"{server.url}/r/noarch/x-1-0.conda",
            content=b"bytes",
            headers={"Authorization": "Bearer t", "X-Checksum-Sha256": "0" * 64},
        )
        assert response.status_code == 409
        assert server.truth() == {"r": {}}
        assert httpx.put(f"{server.url}/r/noarch/x-1-0.conda", content=b"b").status_code == 401


def test_full_flow(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.build_upload_install_promote_rerun(cipub, handle, tmp_path)


def test_conflict(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.conflict_exits_6_and_changes_nothing(cipub, handle, tmp_path)


def test_promotion_touches_only_the_manifest(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.promotion_touches_only_the_manifest(cipub, handle, tmp_path)


def test_never_overwrites_even_where_the_server_would(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    """The test server, like Artifactory for a user with delete permission, replaces on PUT and on
    copy; cipub must still refuse (exit 6) and leave the stored bytes alone."""
    server = shared_artifactory()
    assert server.allow_overwrite
    real = make_package(tmp_path / "a", "art-keep", "1.0", 0, payload="real")
    impostor = make_package(tmp_path / "b", "art-keep", "1.0", 0, payload="impostor")
    work = tmp_path / "w"
    work.mkdir()
    args = ("--target", handle.url)
    assert cipub("upload", str(real), *args, cwd=work, env=handle.env).code == 0
    assert cipub("promote", *args, cwd=work, env=handle.env).code == 0
    before = handle.state()
    assert cipub("upload", str(impostor), *args, "--label", "main", cwd=work, env=handle.env).code == 6
    assert handle.state() == before


def test_basic_credentials(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    server = shared_artifactory()
    server.users["deployer"] = "pw-basic-canary-42"
    pkg = make_package(tmp_path / "p", "art-basic", "1.0", 0)
    env = {"ARTIFACTORY_USERNAME": "deployer", "ARTIFACTORY_PASSWORD": "pw-basic-canary-42"}
    result = cipub("--debug", "upload", str(pkg), "--target", handle.url, cwd=tmp_path, env=env)
    assert result.code == 0, result.err
    assert "pw-basic-canary-42" not in result.out + result.err
    env["ARTIFACTORY_PASSWORD"] = "wrong-password-canary"
    result = cipub("upload", str(pkg), "--target", handle.url, "--label", "rc2", cwd=tmp_path, env=env)
    assert result.code == 5, result.err
    assert "wrong-password-canary" not in result.out + result.err

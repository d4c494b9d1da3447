"""`cipub build --container` against a real Docker Engine API: Podman's system service (issue 14).

The session fixture (tests/support/podman.py) installs Podman when missing, makes the test image
once with mmdebstrap (cached under .tools/container), and runs the service on a private socket.
The first build prepares the derived image cipub-build:<key> (cipub + py-rattler-build); later
builds reuse it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cipub.core.artifact import read_artifact
from cipub.engines import BuildRequest
from cipub.engines.conda_build import conda_build_argv
from cipub.recipe import load_recipe
from tests.conftest import REPO
from tests.support import podman as podman_support
from tests.support.install import install_from

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TEMPLATE = REPO / "recipes-template" / "v1-noarch-generic"
CANARY = "cipub-canary-7f3a9d0e"


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[podman_support.Podman]:
    yield from podman_support.start(tmp_path_factory.mktemp("podman"))


def env_for(pm: podman_support.Podman) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIPUB_", "GITHUB_", "GITLAB_"))}
    env.update(DOCKER_HOST=pm.docker_host, CIPUB_TOKEN=CANARY, ANACONDA_API_TOKEN=CANARY, CANARY_SECRET=CANARY)
    return env


def run(pm: podman_support.Podman, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cipub", *args],
        cwd=cwd,
        env=env_for(pm),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def cipub_containers(pm: podman_support.Podman) -> list[str]:
    return pm.podman("ps", "-a", "--filter", "label=cipub", "--format", "{{.ID}} {{.Status}}").split("\n")[:-1]


def test_build_in_container_promote_install_same_metadata_as_host(
    podman: podman_support.Podman, tmp_path: Path
) -> None:
    shutil.copytree(TEMPLATE, tmp_path / "recipe")
    key = tmp_path / "signing.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    attest = ("--attest", "key", "--attest-key-file", str(key))
    build = run(podman, "build", "recipe", "--container", podman.image, *attest, "--json", cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    doc = json.loads(build.stdout)
    image = podman.podman("image", "inspect", podman.image)
    assert doc["container"]["image"] == podman.image
    assert doc["container"]["digest"].startswith("sha256:") and doc["container"]["digest"] in image
    # the signed SLSA provenance names the image the build ran in, by digest (issue 16)
    [provenance] = [a for a in doc["attestations"] if a["statement"] == "provenance"]
    envelope = json.loads((tmp_path / "output" / provenance["document"]).read_text())
    slsa = json.loads(base64.b64decode(envelope["payload"]))
    algorithm, _, value = doc["container"]["digest"].partition(":")
    pinned = {"name": "container-image", "uri": f"docker://{podman.image}", "digest": {algorithm: value}}
    assert pinned in slsa["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert slsa["predicate"]["runDetails"]["builder"]["builderDependencies"] == [pinned]
    promoted = run(podman, "promote", "--json", cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stderr
    installed = install_from((tmp_path / ".cipub" / "channel").as_uri(), "hello-cipub-data", tmp_path / "env")
    assert installed == ["hello-cipub-data-0.1.0-h4616a5c_0"]
    hello = tmp_path / "env" / "share" / "hello-cipub-data" / "hello.txt"
    assert hello.read_text() == "hello from hello-cipub-data 0.1.0\n"
    # the same recipe built here: the same package metadata
    host = run(
        podman, "build", "recipe", "--no-upload", "--build-number", "0", "-o", "host-out", "--json", cwd=tmp_path
    )
    assert host.returncode == 0, host.stderr
    fields = ("name", "version", "build", "noarch", "subdir", "build_number")
    in_container = {k: doc["artifacts"][0][k] for k in fields}
    assert in_container == {k: json.loads(host.stdout)["artifacts"][0][k] for k in fields}
    # files come back owned by the caller; the log streamed back, without the host's secrets
    built = tmp_path / "output" / "noarch" / doc["artifacts"][0]["filename"]
    assert built.stat().st_uid == os.getuid()
    assert "hello from" in build.stderr or "mkdir -p" in build.stderr
    for text in (build.stdout, build.stderr, (tmp_path / "output" / "cipub-build.log").read_text()):
        assert CANARY not in text
    assert cipub_containers(podman) == []


def test_container_env_is_minimal_and_recipe_read_only(podman: podman_support.Podman, tmp_path: Path) -> None:
    recipe = tmp_path / "r"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(
        "package: {name: envdump, version: '1.0'}\n"
        "build:\n  number: 0\n  noarch: generic\n  script:\n"
        "    - mkdir -p $PREFIX/share\n"
        "    - env > $PREFIX/share/env.txt\n"
        "    - (touch $RECIPE_DIR/written && echo recipe-writable || echo recipe-read-only) > $PREFIX/share/ro.txt\n"
        "    - ls -d /root/.cache/cipub /work > $PREFIX/share/host.txt 2>&1 || true\n"
    )
    out = tmp_path / "out"
    proc = run(podman, "build", "r", "--container", podman.image, "--no-upload", "--no-test", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [package] = list((out / "noarch").glob("envdump-*.conda"))
    import conda_package_streaming.package_streaming as ps

    contents: dict[str, str] = {}
    with package.open("rb") as fh:
        for tar, member in ps.stream_conda_component(package.name, fh, component="pkg"):
            if member.name.startswith("share/") and member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                contents[member.name] = extracted.read().decode()
    env = contents["share/env.txt"]
    assert CANARY not in env
    assert "DOCKER_HOST" not in env and "CANARY_SECRET" not in env
    # nothing of the host's paths or home
    assert str(tmp_path) not in env and str(REPO) not in env and "HOME=/root" not in env
    assert contents["share/ro.txt"].strip() == "recipe-read-only"
    assert not (recipe / "written").exists()
    assert "No such file" in contents["share/host.txt"]  # no host home, no host tree
    assert CANARY not in proc.stderr


def _slow_recipe(root: Path) -> Path:
    recipe = root / "slow"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(
        "package: {name: slow, version: '1.0'}\n"
        "build:\n  number: 0\n  noarch: generic\n  script:\n"
        "    - echo cipub-test-sleeping\n"
        "    - sleep 300\n"
    )
    return recipe


def test_sigint_mid_build_leaves_no_container(podman: podman_support.Podman, tmp_path: Path) -> None:
    _slow_recipe(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cipub", "build", "slow", "--container", podman.image, "--no-upload", "-o", "out"],
        cwd=tmp_path,
        env=env_for(podman),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "out" / "cipub-build.log"
    deadline = time.monotonic() + 300
    while not (log.is_file() and "cipub-test-sleeping" in log.read_text()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.3)
    assert len(cipub_containers(podman)) == 1  # the build container is running
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert cipub_containers(podman) == [], err


def test_missing_image_timeout_and_oom_are_errors_leaving_no_container(
    podman: podman_support.Podman, tmp_path: Path
) -> None:
    had_oom = (Path.cwd() / "oom").exists()
    _slow_recipe(tmp_path)
    missing = run(
        podman, "build", "slow", "--container", "localhost/cipub-no-such-image:0", "--no-upload", cwd=tmp_path
    )
    assert missing.returncode == 2 and "container image localhost/cipub-no-such-image:0" in missing.stderr
    proc = run(
        podman, "build", "slow", "--container", podman.image, "--container-timeout", "6", "--no-upload", cwd=tmp_path
    )
    assert proc.returncode == 4, proc.stderr
    assert "did not finish within 6 s" in proc.stderr
    assert cipub_containers(podman) == []

    hungry = tmp_path / "hungry"
    hungry.mkdir()
    (hungry / "recipe.yaml").write_text(
        "package: {name: hungry, version: '1.0'}\n"
        "build:\n  number: 0\n  noarch: generic\n  script:\n"
        '    - python3 -c "a = bytearray(2 * 1024**3); print(len(a))"\n'
    )
    proc = run(
        podman,
        "build",
        "hungry",
        "--container",
        podman.image,
        "--container-memory",
        "300m",
        "--no-upload",
        cwd=tmp_path,
    )
    assert proc.returncode == 4, proc.stderr
    assert "memory limit 300m" in proc.stderr
    assert cipub_containers(podman) == []
    assert not (Path.cwd() / "oom").exists() or had_oom  # no stray file where the tests were started


def test_conda_build_in_an_image_with_conda_uses_the_adapter_argv(
    podman: podman_support.Podman, tmp_path: Path
) -> None:
    """A fake `conda` (records its argv, writes a prebuilt package) in an image derived from the test
    image; cipub runs it with exactly the argv the host conda-build adapter builds."""
    import docker

    prebuilt = tmp_path / "prebuilt"
    from tests.support.packages import make_package

    package = make_package(prebuilt, name="metapkg", version="2.0", build_number=3)
    fake = (
        "#!/bin/sh\n"
        'printf "%s\\n" "$0" "$@" > /cipub/output/argv.txt\n'
        "mkdir -p /cipub/output/noarch && cp /cipub/recipe/" + package.name + " /cipub/output/noarch/\n"
    )
    client = docker.DockerClient(base_url=podman.docker_host)
    tag = "localhost/cipub-test-fakeconda:" + podman.image.rsplit(":", 1)[-1]
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        maker = client.containers.create(
            podman.image,
            ["sh", "-c", "mkdir -p /opt/conda/bin && cat > /opt/conda/bin/conda && chmod 755 /opt/conda/bin/conda"],
            stdin_open=True,
        )
        try:
            sock = maker.attach_socket(params={"stdin": 1, "stream": 1})
            maker.start()
            sock._sock.sendall(fake.encode())
            sock._sock.shutdown(1)
            maker.wait(timeout=60)
            maker.commit(repository=tag.rsplit(":", 1)[0], tag=tag.rsplit(":", 1)[1])
        finally:
            maker.remove(force=True)
    recipe = tmp_path / "meta"
    recipe.mkdir()
    (recipe / "meta.yaml").write_text("package:\n  name: metapkg\n  version: '2.0'\nbuild:\n  number: 3\n")
    shutil.copy(package, recipe / package.name)
    env = env_for(podman)
    env["PATH"] = "/usr/bin:/bin"  # no conda on this "host"
    proc = subprocess.run(
        [sys.executable, "-m", "cipub", "build", "meta", "--container", tag, "--no-upload", "-o", "out", "--no-test"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    argv = (tmp_path / "out" / "argv.txt").read_text().splitlines()
    inside = load_recipe(recipe)
    from dataclasses import replace

    expected = conda_build_argv(
        BuildRequest(
            recipe=replace(inside, directory=Path("/cipub/recipe")),
            output_dir=Path("/cipub/output"),
            run_tests=False,
        ),
        None,  # --no-upload without a target lookup: the recipe's own number, no clobber file
    )
    assert argv[1:] == expected[1:]
    assert argv[0].endswith("/conda")
    assert read_artifact(tmp_path / "out" / "noarch" / package.name).name == "metapkg"
    # without --container, no conda here: the hint names --container
    proc = subprocess.run(
        [sys.executable, "-m", "cipub", "build", "meta", "--no-upload", "-o", "out2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 4 and "--container" in proc.stderr


def test_a_container_build_solves_from_a_local_channel_named_by_channel_sources(
    podman: podman_support.Podman, tmp_path: Path
) -> None:
    """The pinning's channel_sources name a local channel holding the host and test dependency:
    in the container it is mounted where the variant file names it, and no -c is passed beside it."""
    from tests.integration.plan.test_build_channel_sources import PIN, _feedstock

    root = _feedstock(tmp_path)
    args = ("build", "recipe", "--conda-forge", *PIN, "--only", "noarch", "--no-upload", "--output-dir", "out")
    built = run(podman, *args, "--container", podman.image, "--json", cwd=root)
    assert built.returncode == 0, built.stderr
    [artifact] = json.loads(built.stdout)["artifacts"]
    package = read_artifact(root / "out" / artifact["subdir"] / artifact["filename"])
    assert any(d.startswith("cfdep-host") for d in package.index["depends"])

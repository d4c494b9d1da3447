"""A real Docker Engine API for the container tests: Podman's ``system service`` on a private socket.

Once per session: Podman (and ``runc``, ``mmdebstrap``) installed with apt when missing; a minimal
Debian image (python3, venv, pip, CA certificates) made by ``mmdebstrap`` from the mirror apt is
configured with, cached as ``<tool cache>/container/<key>.tar`` (atomic: written to a partial file,
renamed last; under a lock) and imported into Podman when not there yet; ``podman system service``
started on a socket in the session's temporary directory, stopped by its own pid at the end.

The machine's limits (containers as root, ``cgroupfs``, ``runc``, the host network, ulimits at
most the hard limits) go into a private ``containers.conf`` (``CONTAINERS_CONF``): nothing of the
machine's own configuration is changed. Where Podman cannot run a container at all, the tests skip
with the reason.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.tool_cache import TOOLS_DIR, locked

#: the per-user tool cache (tests/support/tool_cache.py): a fresh clone reuses the image
CACHE = TOOLS_DIR / "container"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
SUITE = "bookworm"
#: bump to remake the cached image
RECIPE_VERSION = "1"


@dataclass(frozen=True)
class Podman:
    docker_host: str
    image: str
    env: dict[str, str]

    def podman(self, *args: str) -> str:
        return subprocess.run(
            ["podman", *args], capture_output=True, text=True, check=True, env=self.env, timeout=120
        ).stdout


def _ensure_tools() -> str | None:
    """Install podman/runc/mmdebstrap with apt where missing; the reason they cannot be, or None."""
    missing = [tool for tool in ("podman", "runc", "mmdebstrap") if shutil.which(tool) is None]
    if not missing:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{', '.join(missing)} missing and cannot be installed here (needs root and apt-get)"
    with locked("apt"):
        proc = subprocess.run(
            ["apt-get", "install", "-y", "-q", *missing],
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            timeout=900,
            check=False,
        )
    if proc.returncode != 0:
        return f"apt-get install {' '.join(missing)} failed: {proc.stderr.strip().splitlines()[-1:]}"
    return None


def _mirror() -> str:
    """The Debian mirror apt uses here (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(Path("/etc/apt/sources.list.d").glob("*")):
        if not path.is_file() or not path.name.endswith((".sources", ".list")):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if line.startswith("URIs:") and len(words) > 1 and "security" not in words[1]:
                return words[1]
            if line.startswith("deb ") and len(words) > 2 and "security" not in words[1]:
                return words[1]
    return "http://deb.debian.org/debian"


def _key() -> str:
    return hashlib.sha256(f"{SUITE} {' '.join(PACKAGES)} {RECIPE_VERSION}".encode()).hexdigest()[:12]


def _image_tar() -> Path:
    """The cached image tarball, made by mmdebstrap when missing (atomic, locked)."""
    tar = CACHE / f"{SUITE}-{_key()}.tar"
    with locked("container-image"):
        if tar.is_file():
            return tar
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = CACHE / f"{tar.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--format=tar",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(partial),
                _mirror(),
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        partial.replace(tar)
    return tar


def _containers_conf(into: Path) -> Path:
    hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = min(4096, hard_nofile) if hard_nofile != resource.RLIM_INFINITY else 4096
    nproc = min(4096, hard_nproc) if hard_nproc != resource.RLIM_INFINITY else 4096
    conf = into / "containers.conf"
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        'netns = "host"\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n',
        encoding="utf-8",
    )
    return conf


def start(workdir: Path) -> Iterator[Podman]:
    """The session fixture's body: yields a running service, stops it by its pid."""
    reason = _ensure_tools()
    if reason:
        pytest.skip(f"container tests need Podman: {reason}")
    env = {**os.environ, "CONTAINERS_CONF": str(_containers_conf(workdir))}
    image = f"localhost/cipub-test-{SUITE}:{_key()}"
    with locked("container-import"):
        if subprocess.run(["podman", "image", "exists", image], env=env, check=False).returncode != 0:
            subprocess.run(["podman", "import", str(_image_tar()), image], env=env, check=True, capture_output=True)
    probe = subprocess.run(
        ["podman", "run", "--rm", image, "python3", "-c", "print('ok')"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if probe.stdout.strip() != "ok":
        pytest.skip(f"Podman cannot run a container on this machine: {probe.stderr.strip()[-300:]}")
    socket = workdir / "podman.sock"
    log = (workdir / "podman-service.log").open("w")
    # cwd: conmon, started by the service for each container, writes an empty file named "oom" into
    # its working directory when the kernel kills the container for memory (the memory-limit test);
    # from the checkout root, that file was committed once by accident (47845f4)
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env=env,
        stdout=log,
        stderr=log,
        cwd=workdir,
    )
    try:
        docker_host = f"unix://{socket}"
        import docker

        deadline = time.monotonic() + 30
        while True:
            try:
                docker.DockerClient(base_url=docker_host).ping()
                break
            except Exception:
                if time.monotonic() > deadline or service.poll() is not None:
                    raise
                time.sleep(0.2)
        yield Podman(docker_host, image, env)
    finally:
        service.terminate()
        try:
            service.wait(timeout=15)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        log.close()

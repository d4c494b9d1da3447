"""Builds inside a container, through the Docker Engine API (Docker, or Podman's ``system service``).

Only the engine runs in the container; planning, build numbers, the manifest, upload and promotion
stay on the host. The recipe directory is mounted read-only, the output directory read-write;
the container gets an explicit minimal environment (no host variables, no token, no host home),
runs as the calling user (so the packages come back owned by them) and is removed on success,
failure, timeout and Ctrl-C.

rattler-build: the same worker as on the host (:mod:`cipub.engines._rattler_worker`), installed
into a derived image ``cipub-build:<key>`` once: a wheel of this very cipub, built on the host,
plus py-rattler-build pinned to the host's version, both from the package index pip on the host
uses (its index URL and CA bundle, never credentials). The key hashes the base image id, the
wheel and the pin, so a new cipub or image makes a new derived image and nothing is stale.

conda-build: when the image has ``conda``, the same argv as the host adapter
(:func:`cipub.engines.conda_build.conda_build_argv`), run in the container as is.

Which engine API: ``DOCKER_HOST`` (``unix:///run/podman/podman.sock`` ...) or the usual socket.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import importlib.metadata
import json
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import zipfile
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cipub.core.errors import BuildFailedError, NetworkError, UsageError
from cipub.core.extras import import_extra
from cipub.engines.base import (
    BUILD_LOG,
    BuildRequest,
    effective_variant_files,
    engine_channels,
    file_pinned_keys,
    new_package_files,
    package_files,
)

#: the engine API's image architectures, as conda subdirs
_ARCH_SUBDIR = {
    "amd64": "linux-64",
    "x86_64": "linux-64",
    "arm64": "linux-aarch64",
    "aarch64": "linux-aarch64",
    "ppc64le": "linux-ppc64le",
    "s390x": "linux-s390x",
}
#: where things are inside the container
C_RECIPE, C_OUTPUT, C_SCRATCH, C_CA = "/cipub/recipe", "/cipub/output", "/cipub/scratch", "/cipub/ca-certificates.crt"
C_VENV = "/opt/cipub/venv"
#: the label every container cipub starts carries (``podman ps -a --filter label=cipub``)
LABEL = "cipub"
DERIVED_REPOSITORY = "localhost/cipub-build"
_CA_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")
#: the pip settings that may enter the container (no credentials: URLs with user:password are dropped)
_PIP_KEYS = ("index-url", "extra-index-url", "trusted-host", "timeout", "default-timeout")


#: what to check when the engine cannot create or start a container (README "Builds in a container")
ENGINE_SETUP_HINT = (
    "the engine cannot run containers as configured here; for Podman in a restricted sandbox set "
    "runtime runc, cgroup_manager cgroupfs and default_ulimits = [] in containers.conf (README: "
    "Builds in a container)"
)
#: the engine API's memory sizes: a whole number with an optional unit (b, k, m, g)
_MEMORY = re.compile(r"(\d+)([bkmg]?)", re.IGNORECASE)
_UNIT = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
#: Docker and Podman refuse a container memory limit below 6 MiB
MIN_MEMORY = 6 * 1024**2


def memory_bytes(text: str) -> int:
    """``--container-memory`` in bytes (``4g``, ``512m``), refused (exit 2) before anything starts."""
    match = _MEMORY.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"--container-memory {text!r} is not a size",
            hint="a whole number with a unit: 512m, 4g (b, k, m, g); leave it out for no limit",
        )
    size = int(match.group(1)) * _UNIT[match.group(2).lower()]
    if size < MIN_MEMORY:
        raise UsageError(
            f"--container-memory {text!r} is below the engines' minimum of 6m",
            hint="a real build wants at least a few hundred MB, e.g. 2g; leave it out for no limit",
        )
    return size


@dataclass(frozen=True)
class ContainerOptions:
    """``--container IMAGE`` and its limits."""

    image: str
    #: e.g. ``4g`` (the engine API's syntax); empty: no limit
    memory: str = ""
    #: seconds; 0: no limit
    timeout: float = 0.0

    def __post_init__(self) -> None:
        if self.memory:
            memory_bytes(self.memory)


@dataclass(frozen=True)
class ImageInfo:
    """The image a build ran in, as the manifest records it."""

    image: str
    digest: str
    subdir: str


def connect() -> Any:
    """A docker SDK client for the engine API (``DOCKER_HOST`` or the default socket), checked."""
    docker = import_extra("docker", extra="container", needed_for="--container", otherwise="or pip install 'docker>=7'")
    where = os.environ.get("DOCKER_HOST", "the default socket (unix:///var/run/docker.sock)")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError ...
        raise NetworkError(
            f"no container engine answers at {where}: {_first_line(exc)}",
            hint="start Docker, or `podman system service --time=0 unix:///PATH` and set DOCKER_HOST=unix:///PATH",
        ) from exc
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def get_image(client: Any, name: str) -> Any:
    """The image ``name``: local, else pulled. Missing: exit 2; pull refused: exit 7."""
    import docker.errors

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        if "invalid reference format" in str(exc) or exc.status_code == 400:
            raise UsageError(
                f"{name!r} is not a valid container image name",
                hint="name it as REPOSITORY[:TAG] or REPOSITORY@sha256:DIGEST, e.g. localhost/builder:1",
            ) from exc
        raise NetworkError(
            f"the container engine failed to look up image {name}: {_first_line(exc)}",
            hint="check that the engine is healthy (`podman info` / `docker info`)",
        ) from exc
    try:
        return client.images.pull(name)
    except docker.errors.NotFound as exc:
        raise UsageError(
            f"container image {name} is not on this machine and the registry has no such image",
            hint="check the name (`docker images` / `podman images`), or build or import it first",
        ) from exc
    except Exception as exc:
        raise NetworkError(
            f"container image {name} is not on this machine and pulling it was refused: {_first_line(exc)}",
            hint="pull or import it yourself (`podman pull`, `podman import`), or check registry access",
        ) from exc


def image_subdir(image: Any) -> str:
    arch = str(image.attrs.get("Architecture") or "amd64")
    os_name = str(image.attrs.get("Os") or "linux")
    return _ARCH_SUBDIR.get(arch, f"{os_name}-{arch}") if os_name == "linux" else f"{os_name}-{arch}"


def image_info(name: str, image: Any) -> ImageInfo:
    digests = [str(d) for d in image.attrs.get("RepoDigests") or []]
    digest = digests[0].rsplit("@", 1)[-1] if digests else str(image.id)
    return ImageInfo(image=name, digest=digest, subdir=image_subdir(image))


def check_platform(request: BuildRequest, info: ImageInfo) -> None:
    """A --platform the image cannot run natively is refused: cipub never emulates silently."""
    wanted = request.target_platform
    if wanted and wanted not in ("noarch", info.subdir):
        raise UsageError(
            f"--platform {wanted} does not match container image {info.image}, which is {info.subdir}",
            hint=f"use an image built for {wanted} (cipub does not emulate), or build {info.subdir} in this one",
        )


def open_image(options: ContainerOptions, request: BuildRequest) -> tuple[Any, Any, ImageInfo, Path]:
    """What both container engines do before they start anything: reach the engine, find the
    image, refuse a platform it cannot build, and make the output directory."""
    client = connect()
    base = get_image(client, options.image)
    info = image_info(options.image, base)
    check_platform(request, info)
    output_dir = request.output_dir.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    return client, base, info, output_dir


def _host_ca_bundle() -> Path | None:
    for candidate in (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("PIP_CERT", ""), *_CA_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _no_credentials(value: str) -> bool:
    return all("@" not in urlsplit(part).netloc for part in value.split())


def pip_environment() -> dict[str, str]:
    """The host's pip index settings (config files, then PIP_* variables) as PIP_* for the container.

    Only where to find packages and how long to wait: never a URL carrying credentials.
    """
    found: dict[str, str] = {}
    files = [
        Path("/etc/xdg/pip/pip.conf"),
        Path("/etc/pip.conf"),
        Path("~/.config/pip/pip.conf").expanduser(),
        Path("~/.pip/pip.conf").expanduser(),
    ]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    parser = configparser.ConfigParser()
    with contextlib.suppress(configparser.Error):
        parser.read([str(f) for f in files if f.is_file()], encoding="utf-8")
    for section in ("global", "install"):
        if parser.has_section(section):
            for key in _PIP_KEYS:
                if parser.has_option(section, key):
                    found[key] = " ".join(parser.get(section, key).split())
    for key in _PIP_KEYS:
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env:
            found[key] = env
    return {
        "PIP_" + key.upper().replace("-", "_"): value for key, value in sorted(found.items()) if _no_credentials(value)
    }


def local_index_mounts(pip_env: dict[str, str]) -> dict[str, dict[str, str]]:
    """``file://`` package indexes of the host, mounted read-only at the same path in the container."""
    mounts: dict[str, dict[str, str]] = {}
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        for url in pip_env.get(key, "").split():
            index = Path(url.removeprefix("file://"))
            if url.startswith("file://") and index.is_dir():
                # a simple index links to files beside it (../../files/...): its parent goes in whole
                path = str(index.parent if index.name == "simple" else index)
                mounts[path] = {"bind": path, "mode": "ro"}
    return mounts


def build_self_wheel(into: Path) -> Path:
    """A wheel of the cipub that is running (from its installed files: works for any install)."""
    import cipub

    package = Path(cipub.__file__).resolve().parent
    version = cipub.__version__
    try:
        requires = importlib.metadata.requires("cipub") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    dist_info = f"cipub-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            files["cipub/" + path.relative_to(package).as_posix()] = path.read_bytes()
    metadata = ["Metadata-Version: 2.1", "Name: cipub", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires if "extra ==" not in r]
    files[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: cipub\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for name, data in files.items():
        digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = into / f"cipub-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, zipfile.ZIP_DEFLATED)
    return wheel


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    path = Path(base) / "cipub" / "container"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepared_image(client: Any, base: Any, log: Any) -> str:
    """The derived image with cipub and py-rattler-build in ``/opt/cipub/venv``, made once per key."""
    import docker.errors
    from filelock import FileLock

    rattler_version = importlib.metadata.version("py-rattler-build")
    with tempfile.TemporaryDirectory(prefix="cipub-wheel-") as tmp:
        wheel = build_self_wheel(Path(tmp))
        key = hashlib.sha256(
            "\n".join([str(base.id), hashlib.sha256(wheel.read_bytes()).hexdigest(), rattler_version]).encode()
        ).hexdigest()[:16]
        tag = f"{DERIVED_REPOSITORY}:{key}"
        with FileLock(str(_cache_dir() / f"{key}.lock")):
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.get(tag)
                return tag
            log(f"preparing container image {tag}: cipub and py-rattler-build {rattler_version} (once)")
            script = (
                f"set -e; python3 -m venv {C_VENV}; "
                f'{C_VENV}/bin/pip install --no-cache-dir --disable-pip-version-check -q "$CIPUB_WHEEL" '
                f'"py-rattler-build=={rattler_version}"'
            )
            pip_env = pip_environment()
            volumes = {tmp: {"bind": "/cipub/wheel", "mode": "ro"}, **local_index_mounts(pip_env)}
            environment = {
                "HOME": "/tmp",
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "CIPUB_WHEEL": f"/cipub/wheel/{wheel.name}",
                **pip_env,
            }
            ca = _host_ca_bundle()
            if ca is not None:
                volumes[str(ca)] = {"bind": C_CA, "mode": "ro"}
                environment["PIP_CERT"] = C_CA
            container = client.containers.create(
                base.id,
                ["sh", "-c", script],
                environment=environment,
                volumes=volumes,
                network_mode="host",
                # the derived image keeps these labels: older ones of the same base can be found
                labels={LABEL: "prepare", "cipub.base": str(base.id)},
            )
            try:
                container.start()
                output = _follow(container, log, deadline=None)
                code = int(container.wait().get("StatusCode", 1))
                if code != 0:
                    raise NetworkError(
                        f"installing cipub and py-rattler-build into the container image failed (exit {code})",
                        hint="the container must reach the package index pip uses on this host; "
                        "its output is above" + next((f": {line}" for line in reversed(output) if line.strip()), ""),
                    )
                container.commit(repository=DERIVED_REPOSITORY, tag=key)
            finally:
                with contextlib.suppress(Exception):
                    container.remove(force=True)
            _remove_older(client, base, tag)
    return tag


def _remove_older(client: Any, base: Any, keep: str) -> None:
    """Derived images of the same base made for an earlier cipub go: one per base is kept."""
    with contextlib.suppress(Exception):
        for image in client.images.list(filters={"label": f"cipub.base={base.id}"}):
            if keep not in (image.tags or []) and any(t.startswith(DERIVED_REPOSITORY + ":") for t in image.tags):
                with contextlib.suppress(Exception):
                    client.images.remove(image.id, noprune=False)


def _follow(container: Any, log: Any, deadline: float | None, tick: Any = None) -> list[str]:
    """Stream the container's output to ``log`` line by line until it stops (or ``deadline``)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        partial = ""
        try:
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                text = partial + chunk.decode("utf-8", errors="replace")
                *complete, partial = text.split("\n")
                for line in complete:
                    lines.put(line)
        except Exception as exc:  # the container went away (removed after Ctrl-C)
            lines.put(f"(container log ended: {_first_line(exc)})")
        if partial:
            lines.put(partial)
        lines.put(None)

    threading.Thread(target=read, daemon=True, name="cipub-container-log").start()
    seen: list[str] = []
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError
        if tick is not None:
            tick()  # the build script's own log, followed in the output directory
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            return seen
        seen.append(line)
        log(line)


def minimal_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """All the environment a build container gets: nothing from the host."""
    env = {
        "HOME": "/tmp/cipub-home",
        "PATH": f"{C_VENV}/bin:/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    return {**env, **(extra or {})}


@dataclass
class ContainerRun:
    """One container: mounts, environment, limits; run, stream, always removed."""

    client: Any
    image: str
    command: list[str]
    volumes: dict[str, dict[str, str]]
    environment: dict[str, str]
    options: ContainerOptions
    what: str

    def run(self, log: Any, tick: Any = None) -> None:
        import docker.errors

        limits: dict[str, Any] = {}
        if self.options.memory:
            limits = {"mem_limit": self.options.memory, "memswap_limit": self.options.memory}
        user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
        try:
            container = self.client.containers.create(
                self.image,
                self.command,
                environment=self.environment,
                volumes=self.volumes,
                network_mode="host",
                user=user,
                working_dir="/tmp",
                labels={LABEL: "build"},
                **limits,
            )
        except docker.errors.APIError as exc:
            raise BuildFailedError(
                f"the container engine refused to create the build container: {_first_line(exc)}",
                hint=ENGINE_SETUP_HINT,
            ) from exc
        try:
            try:
                container.start()
            except docker.errors.APIError as exc:
                raise BuildFailedError(
                    f"the container engine could not start the build container: {_first_line(exc)}",
                    hint=ENGINE_SETUP_HINT,
                ) from exc
            deadline = time.monotonic() + self.options.timeout if self.options.timeout else None
            try:
                _follow(container, log, deadline, tick)
            except TimeoutError:
                with contextlib.suppress(Exception):
                    container.kill()
                raise BuildFailedError(
                    f"{self.what} did not finish within {self.options.timeout:g} s; the container was stopped",
                    hint="raise --container-timeout, or find what hangs in the log above",
                ) from None
            code = int(container.wait().get("StatusCode", 1))
            container.reload()
            state = container.attrs.get("State") or {}
            if state.get("OOMKilled") or (self.options.memory and code == 137):
                raise BuildFailedError(
                    f"{self.what} was killed: out of memory (limit {self.options.memory or 'none'})",
                    hint="raise --container-memory (e.g. 8g), or build fewer variants at once",
                )
            self.exit_code = code
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)

    exit_code: int = -1


class ContainerRattlerBuildEngine:
    """rattler-build in a container: the host worker's protocol, paths mapped into the container."""

    name = "rattler-build"

    def __init__(self, options: ContainerOptions) -> None:
        self.options = options
        self.info: ImageInfo | None = None

    def build(self, request: BuildRequest) -> list[Path]:
        from cipub.engines.rattler_build import BuildLog, ScriptLogFollower, _raise_for, _take
        from cipub.recipe import v1

        recipe = request.recipe
        if recipe.format != "v1":
            raise UsageError(
                f"{recipe.path}: rattler-build builds recipe.yaml (v1) recipes, not meta.yaml",
                hint="use --engine conda-build with an image that has conda",
            )
        client, base, self.info, output_dir = open_image(self.options, request)
        v1.parse_stage0(recipe.path)
        before = package_files(output_dir)
        with (
            tempfile.TemporaryDirectory(prefix="cipub-container-") as scratch,
            BuildLog(output_dir / BUILD_LOG, request.log) as log,
        ):
            image = prepared_image(client, base, log.line)
            variants = effective_variant_files(request, Path(scratch))
            volumes, worker = self._mounts(request, output_dir, Path(scratch), variants)
            (Path(scratch) / "request.json").write_text(json.dumps(worker), encoding="utf-8")
            events: list[dict[str, Any]] = []
            follower = ScriptLogFollower(output_dir / "bld")

            def follow_script() -> None:
                for text in follower.poll():
                    log.line(text)

            def on_line(raw: str) -> None:
                follow_script()
                _take(raw, log, events)

            run = ContainerRun(
                client,
                image,
                [f"{C_VENV}/bin/python", "-m", "cipub.engines._rattler_worker", f"{C_SCRATCH}/request.json"],
                volumes,
                minimal_environment({"SSL_CERT_FILE": C_CA} if C_CA in {v["bind"] for v in volumes.values()} else {}),
                self.options,
                f"the build of {recipe.path} in {self.options.image}",
            )
            run.run(on_line, follow_script)
            for text in follower.poll(final=True):
                log.line(text)
            for event in events:  # paths in the container -> paths here
                if "package" in event:
                    event["package"] = str(output_dir / Path(str(event["package"])).relative_to(C_OUTPUT))
            try:
                _raise_for(events, run.exit_code, log, request)
            except BuildFailedError as exc:
                if self.options.memory:  # the OOM killer may have ended the script, not the container
                    exc.hint = (exc.hint + "; " if exc.hint else "") + (
                        f"the container's memory limit {self.options.memory} may be why (--container-memory)"
                    )
                raise
            for folder in follower.build_folders():
                shutil.rmtree(folder, ignore_errors=True)
        built = new_package_files(output_dir, before)
        if not built:
            raise BuildFailedError(f"rattler-build produced no package for {recipe.path} in {self.options.image}")
        return built

    def _mounts(
        self, request: BuildRequest, output_dir: Path, scratch: Path, variants: list[Path]
    ) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
        recipe_file = request.recipe.path.resolve()
        volumes = {
            str(recipe_file.parent): {"bind": C_RECIPE, "mode": "ro"},
            str(output_dir): {"bind": C_OUTPUT, "mode": "rw"},
            str(scratch): {"bind": C_SCRATCH, "mode": "rw"},
        }
        ca = _host_ca_bundle()
        if ca is not None:
            volumes[str(ca.resolve())] = {"bind": C_CA, "mode": "ro"}
        mapped_variants = []
        for i, given in enumerate(variants):
            path = given.resolve()
            if path.is_relative_to(scratch.resolve()):
                mapped_variants.append(f"{C_SCRATCH}/{path.relative_to(scratch.resolve()).as_posix()}")
            else:
                target = f"/cipub/variants/{i}-{path.name}"
                volumes[str(path)] = {"bind": target, "mode": "ro"}
                mapped_variants.append(target)
        to_engine, test_given = engine_channels(request)
        channels = []
        for i, channel in enumerate(test_given):
            local = Path(channel.removeprefix("file://")).expanduser()
            if "://" not in channel.removeprefix("file://") and local.is_dir():
                # channel_sources are read from the variant file inside the container: a local
                # one is mounted where that file names it
                target = f"/cipub/channels/{i}" if to_engine is not None else str(local.absolute())
                volumes[str(local.resolve())] = {"bind": target, "mode": "ro"}
                channels.append(target)
            else:
                channels.append(channel)
        in_file = set(file_pinned_keys(request))
        worker = {
            "recipe": f"{C_RECIPE}/{recipe_file.name}",
            "output_dir": C_OUTPUT,
            "build_num": request.build_number,
            "variant_config": mapped_variants,
            # as the in-process engine: what the generated variant file pins is no override
            "variant_overrides": {
                k: [str(v) for v in vs] for k, vs in request.variant_overrides.items() if k not in in_file
            },
            "target_platform": request.target_platform,
            # None: the variant config's channel_sources name them (rattler-build refuses both)
            "channel": channels if to_engine is not None else None,
            "run_tests": request.run_tests,
            "test_channels": [f"file://{C_OUTPUT}", *channels],
        }
        return volumes, worker


class ContainerCondaBuildEngine:
    """conda-build in an image that has ``conda``: the host adapter's argv with container paths."""

    name = "conda-build"

    def __init__(self, options: ContainerOptions, subcommand: str = "build") -> None:
        self.options = options
        self.subcommand = subcommand
        self.info: ImageInfo | None = None

    def build(self, request: BuildRequest) -> list[Path]:
        from dataclasses import replace

        import yaml

        from cipub.core.artifact import read_artifact
        from cipub.engines.conda_build import clobber_document, conda_build_argv, overrides_document
        from cipub.engines.rattler_build import BuildLog

        client, _base, self.info, output_dir = open_image(self.options, request)
        before = package_files(output_dir)
        recipe_dir = request.recipe.directory.resolve()
        with (
            tempfile.TemporaryDirectory(prefix="cipub-container-") as scratch,
            BuildLog(output_dir / BUILD_LOG, request.log) as log,
        ):
            tmp = Path(scratch)
            clobber: Path | None = None
            if request.build_number is not None:
                clobber = tmp / "clobber.yaml"
                clobber.write_text(yaml.safe_dump(clobber_document(request.build_number)), encoding="utf-8")
            pinned = overrides_document(request)
            variants_file: Path | None = None
            if pinned:
                variants_file = tmp / "cipub_variant.yaml"
                variants_file.write_text(yaml.safe_dump(pinned, sort_keys=True), encoding="utf-8")
            volumes = {
                str(recipe_dir): {"bind": C_RECIPE, "mode": "ro"},
                str(output_dir): {"bind": C_OUTPUT, "mode": "rw"},
                str(tmp): {"bind": C_SCRATCH, "mode": "rw"},
            }
            configs = []
            for i, given in enumerate(effective_variant_files(request, tmp)):
                path = given.resolve()
                if path.is_relative_to(tmp.resolve()):
                    configs.append(Path(C_SCRATCH) / path.relative_to(tmp.resolve()))
                else:
                    target = f"/cipub/variants/{i}-{path.name}"
                    volumes[str(path)] = {"bind": target, "mode": "ro"}
                    configs.append(Path(target))
            inside = replace(
                request,
                recipe=replace(request.recipe, directory=Path(C_RECIPE)),
                output_dir=Path(C_OUTPUT),
                variant_configs=tuple(configs),
            )
            argv = conda_build_argv(
                inside,
                Path(C_SCRATCH) / "clobber.yaml" if clobber else None,
                Path(C_SCRATCH) / "cipub_variant.yaml" if variants_file else None,
                subcommand=self.subcommand,
            )
            ca = _host_ca_bundle()
            if ca is not None:
                volumes[str(ca.resolve())] = {"bind": C_CA, "mode": "ro"}
            env = minimal_environment({"SSL_CERT_FILE": C_CA, "REQUESTS_CA_BUNDLE": C_CA} if ca else {})
            run = ContainerRun(
                client,
                self.options.image,
                argv,
                volumes,
                env,
                self.options,
                f"`conda {self.subcommand}` of {request.recipe.path} in {self.options.image}",
            )
            run.run(log.line)
            if run.exit_code != 0:
                raise BuildFailedError(
                    f"`conda {self.subcommand}` failed with exit code {run.exit_code} for {request.recipe.path} "
                    f"in {self.options.image}",
                    hint=f"the log is above and in {log.path}",
                    details=log.tail(),
                )
        built = new_package_files(output_dir, before)
        if not built:
            raise BuildFailedError(f"`conda {self.subcommand}` exited 0 but wrote no package to {output_dir}")
        for path in built:
            read_artifact(path)
        return built

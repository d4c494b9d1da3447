"""What every scenario needs: timed child processes (with peak RSS), medians, cached packages,
the anaconda.org-protocol server, and the commands of cipub and the peer tools."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".tools" / "benchmarks"
BIN = Path(sys.executable).parent
CIPUB = str(BIN / "cipub")
ANACONDA = str(BIN / "anaconda")
TOKEN = "bench-token-1f2e3d"
USER = "bench"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass
class Proc:
    code: int
    seconds: float
    peak_rss_mib: float
    out: str
    err: str


#: Forks the command from a small process and reports its peak RSS. Linux carries the RSS a process
#: had when it forked into the child's ru_maxrss, so forking straight from this (big) benchmark
#: process would report our own size; the wrapper is ~10 MiB, below anything measured.
_RSS_WRAPPER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execvpe(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    rss: bool = False,
) -> Proc:
    """Run a child to completion: wall time (start-up included); with ``rss``, also its peak RSS
    (the kernel's ru_maxrss, not sampling; the wrapper adds ~10 ms, so timing runs go without it)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        wrapped = [sys.executable, "-S", "-c", _RSS_WRAPPER, str(rss_file), *cmd] if rss else list(cmd)
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        code = proc.wait()
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        peak_kib = int(rss_file.read_text()) if rss_file.is_file() else 0
        result = Proc(
            code,
            seconds,
            peak_kib / 1024,  # Linux reports KiB
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )
    if check and result.code != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited {result.code}:\n{result.err[-3000:]}\n{result.out[-1000:]}")
    return result


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


@dataclass
class Series:
    """Repeated measurements of one tool on one case."""

    case: str
    tool: str
    seconds: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return median(self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "tool": self.tool,
            "median_s": round(self.median_s, 4),
            "runs_s": [round(s, 4) for s in self.seconds],
            **self.extra,
        }


def repeat(case: str, tool: str, times: int, once: Callable[[int], float], **extra: Any) -> Series:
    series = Series(case, tool, extra=dict(extra))
    for i in range(times):
        series.seconds.append(once(i))
    return series


@functools.cache
def _byte_compile_cipub() -> None:
    """Compile cipub's sources once, as ``pip install`` does for an installed package: the peers
    run from site-packages with their bytecode written at install time, while cipub runs from this
    checkout, where ``PYTHONDONTWRITEBYTECODE`` (set on some machines) would leave it compiling its
    source in every process: ~0.1 s of every command measured, that no installed cipub pays."""
    import compileall

    compileall.compile_dir(str(REPO / "cipub"), quiet=1)


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    _byte_compile_cipub()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIPUB_", "ANACONDA_", "BINSTAR_"))}
    env.update({"NO_COLOR": "1", "PYTHONPATH": str(REPO)})
    env.update(extra or {})
    return env


def cipub_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return base_env({"HOME": str(home), "ANACONDA_API_TOKEN": TOKEN, **(extra or {})})


def anaconda_env(home: Path, api_url: str, *, standalone: bool = False) -> dict[str, str]:
    """anaconda-client configured as a user would: site URL in its config file, token in the env."""
    config_dir = home / "binstar"
    (config_dir / "data").mkdir(parents=True, exist_ok=True)
    (config_dir / "data" / "config.yaml").write_text(f"url: {api_url}\nssl_verify: false\n")
    env = base_env(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "BINSTAR_CONFIG_DIR": str(config_dir),
            "BINSTAR_API_TOKEN": TOKEN,
        }
    )
    if standalone:
        env["ANACONDA_CLIENT_FORCE_STANDALONE"] = "true"
    return env


# -- packages -----------------------------------------------------------------------------------


def small_packages(count: int, prefix: str = "bench") -> list[Path]:
    """``count`` real small packages (distinct names), cached between runs under .tools/benchmarks."""
    from rattler_build import ArchiveType, assemble_package

    directory = CACHE / f"small-{prefix}-{count}"
    done = directory / "done.json"
    if done.is_file():
        paths = [Path(p) for p in json.loads(done.read_text())]
        if all(p.is_file() for p in paths):
            return paths
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        name = f"{prefix}{i:03d}"
        stage = directory / "stage" / name
        (stage / "share" / name).mkdir(parents=True, exist_ok=True)
        (stage / "share" / name / "payload.txt").write_text(f"{name} payload\n")
        # summary and license give the package an info/about.json, which rattler-build's uploader needs
        result = assemble_package(
            name=name,
            version="1.0",
            target_platform="noarch",
            build_string="h0000000_0",
            output_dir=directory / "pkgs",
            files_dir=stage,
            build_number=0,
            noarch="generic",
            summary=f"{name}, a benchmark package",
            license="MIT",
            archive_type=ArchiveType.Conda,
            compression_level=1,
        )
        paths.append(Path(result.path))
    done.write_text(json.dumps([str(p) for p in paths]))
    return paths


def big_package(size_mib: int) -> Path:
    """A .conda holding ``size_mib`` MiB of incompressible bytes (so the file is that big too)."""
    from rattler_build import ArchiveType, assemble_package

    directory = CACHE / f"big-{size_mib}"
    existing = sorted((directory / "pkgs").glob("*.conda")) if directory.is_dir() else []
    if existing:
        return existing[0]
    stage = directory / "stage" / "share" / "bigdata"
    stage.mkdir(parents=True, exist_ok=True)
    with (stage / "blob.bin").open("wb") as fh:
        seed = hashlib.sha256(b"cipub benchmark").digest()
        block = b""
        for i in range(size_mib):
            # deterministic pseudo-random MiB blocks (fast: hash-expanded, never repeating)
            block = hashlib.shake_256(seed + i.to_bytes(4, "little")).digest(1024 * 1024)
            fh.write(block)
    result = assemble_package(
        name="bigdata",
        version="1.0",
        target_platform="noarch",
        build_string="h0000000_0",
        output_dir=directory / "pkgs",
        files_dir=directory / "stage",
        build_number=0,
        noarch="generic",
        archive_type=ArchiveType.Conda,
        compression_level=1,
    )
    import shutil

    shutil.rmtree(directory / "stage")
    return Path(result.path)


def write_manifest(paths: Sequence[Path], where: Path) -> Path:
    from cipub.core import manifest as manifest_mod
    from cipub.core.artifact import read_artifact
    from cipub.core.manifest import ArtifactEntry, Manifest

    data = Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in paths])
    return Path(manifest_mod.write(data, where))


# -- the anaconda.org-protocol server -------------------------------------------------------------


@contextlib.contextmanager
def anaconda_server(root: Path, owners: int = 0, *, record: bool = False) -> Iterator[Any]:
    """The test server (tests/servers/anaconda_server.py) with user ``bench`` and ``owners`` orgs;
    ``record`` keeps its log of (method, path) requests."""
    from tests.servers.anaconda_server import AnacondaServer

    orgs = {USER: [f"o{i}" for i in range(owners)]}
    with AnacondaServer(root, tokens={TOKEN: USER}, orgs=orgs, record=record) as server:
        yield server


def seed_from_packages(server: Any, owner: str, paths: Sequence[Path], labels: tuple[str, ...]) -> None:
    """Put real packages on the server directly (no client), e.g. as the start of a promotion."""
    from cipub.core.artifact import read_artifact

    for path in paths:
        a = read_artifact(path)
        server.seed_file(
            owner,
            a.name,
            a.version,
            a.subdir,
            a.filename,
            build=a.build,
            build_number=a.build_number,
            labels=labels,
            data=path.read_bytes(),
        )


def python_floor(times: int) -> float:
    return median([run([sys.executable, "-c", "pass"]).seconds for _ in range(times)])

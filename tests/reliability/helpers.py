"""Shared pieces of the reliability suite: package batches, cipub as a real process, channel truth."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from tests.support.packages import make_package

REPO = Path(__file__).resolve().parents[2]
PACKAGE_SUFFIXES = (".conda", ".tar.bz2")


@dataclass
class Batch:
    """Packages and the manifest describing them."""

    paths: list[Path]
    manifest: Path
    #: "subdir/filename" -> sha256
    expected: dict[str, str]


def make_batch(directory: Path, count: int, *, prefix: str = "rel", version: str = "1.0", salt: str = "") -> Batch:
    """``count`` small real packages (distinct names) and a manifest listing them."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [make_package(directory, f"{prefix}{i}", version, 0, payload=f"{prefix} {i} {salt}") for i in range(count)]
    artifacts = [read_artifact(p) for p in paths]
    data = Manifest(artifacts=[ArtifactEntry.from_artifact(a) for a in artifacts])
    manifest_path = manifest_mod.write(data, directory / "cipub-manifest.json")
    return Batch(paths, Path(manifest_path), {a.key: a.sha256 for a in artifacts})


def cipub_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a cipub child process: no stray CIPUB_* settings, fast retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIPUB_")}
    env["PYTHONPATH"] = str(REPO)
    env.update({"CIPUB_BACKOFF": "0.01", "NO_COLOR": "1"})
    env.update(extra or {})
    return env


def cipub_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cipub", *args]


def run_cipub(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cipub_cmd(*args), cwd=cwd, env=cipub_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class LocalTruth:
    """What a local channel directory holds, read without cipub."""

    #: label -> "subdir/filename" -> sha256
    files: dict[str, dict[str, str]]
    #: label -> "subdir/filename" listed in that label's repodata.json
    indexed: dict[str, set[str]]
    #: leftover temporary files (not packages; invisible to conda, but litter)
    leftovers: list[str]
    #: package names appearing more than once per label (impossible on a filesystem; kept for symmetry)
    duplicates: int = 0


def local_truth(root: Path) -> LocalTruth:
    files: dict[str, dict[str, str]] = {}
    indexed: dict[str, set[str]] = {}
    leftovers: list[str] = []
    if not root.is_dir():
        return LocalTruth(files, indexed, leftovers)
    label_dirs = {"main": root}
    if (root / "label").is_dir():
        label_dirs.update({p.name: p for p in (root / "label").iterdir() if p.is_dir()})
    for label, label_dir in label_dirs.items():
        for subdir in sorted(p for p in label_dir.iterdir() if p.is_dir() and p.name not in ("label", ".tmp")):
            for entry in subdir.iterdir():
                if entry.name.endswith(PACKAGE_SUFFIXES) and not entry.name.startswith("."):
                    files.setdefault(label, {})[f"{subdir.name}/{entry.name}"] = sha256_file(entry)
                elif entry.name.endswith(".part") or entry.name.startswith("."):
                    leftovers.append(str(entry.relative_to(root)))
            repodata = subdir / "repodata.json"
            if repodata.is_file():
                data = json.loads(repodata.read_text())
                names = set(data.get("packages", {})) | set(data.get("packages.conda", {}))
                indexed.setdefault(label, set()).update(f"{subdir.name}/{n}" for n in names)
    return LocalTruth(files, indexed, leftovers)


def duplicates(keys: list[str]) -> int:
    """How many entries appear more than once."""
    return sum(n - 1 for n in Counter(keys).values() if n > 1)

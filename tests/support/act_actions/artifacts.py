"""upload-artifact / download-artifact semantics on a local directory (see README.md)."""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
import sys
from pathlib import Path


def store() -> Path:
    return Path(os.environ["ACT_STANDIN_ARTIFACTS"])


def upload() -> int:
    name = os.environ["INPUT_NAME"] or "artifact"
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    files: list[Path] = []
    for pattern in filter(None, (line.strip() for line in os.environ["INPUT_PATH"].splitlines())):
        for match in glob.glob(pattern, root_dir=workspace, recursive=True):
            path = workspace / match
            files += [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    if not files:
        level = os.environ.get("INPUT_IF_NO_FILES_FOUND") or "warn"
        print(f"::{'error' if level == 'error' else 'warning'}::no files were found for artifact {name}")
        return 1 if level == "error" else 0
    root = Path(os.path.commonpath([p.parent for p in files]))
    target = store() / name
    if target.exists():
        print(f"::error::an artifact named {name} already exists in this run")
        return 1
    for path in files:
        dest = target / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        print(f"stored {dest.relative_to(store())}")
    return 0


def download() -> int:
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    dest = workspace / (os.environ.get("INPUT_PATH") or ".")
    name, pattern = os.environ.get("INPUT_NAME", ""), os.environ.get("INPUT_PATTERN", "")
    if name:
        source = store() / name
        if not source.is_dir():
            print(f"::error::artifact not found: {name}")
            return 1
        shutil.copytree(source, dest, dirs_exist_ok=True)
        return 0
    found = sorted(p for p in store().glob("*") if fnmatch.fnmatchcase(p.name, pattern or "*"))
    for source in found:
        shutil.copytree(source, dest / source.name, dirs_exist_ok=True)
    print(f"downloaded {len(found)} artifacts")
    return 0


if __name__ == "__main__":
    sys.exit(upload() if sys.argv[1] == "upload" else download())

"""Dev-time: lay out feedstock checkouts for ``check_feedstocks.py`` from git mirrors.

Each feedstock is taken at its newest re-render commit (history of its default branch,
message "... conda-forge-pinning VERSION"): ``recipe/``, ``.ci_support/`` and ``conda-forge.yml`` of
that commit. The pinning of the re-render is conda-forge-pinning-feedstock's ``recipe/`` at the last
commit on ``main`` committed before VERSION (the package version is the UTC build time, so that
commit is the one built; a truncated seconds field is read as its latest possible value):

    python tests/tools/assemble_feedstocks.py PINNING_GIT_DIR OUT_DIR FEEDSTOCK_GIT_DIR ...

Writes ``OUT_DIR/NAME/SOURCE`` (repository, commit, date, pinning version and commit) and prints one
line per feedstock. Nothing here is committed: the recipes are the feedstocks' own.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

RERENDER = re.compile(r"conda-forge-pinning[ -]v?(\d{4}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d+)")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True).stdout


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, check=True).stdout


def rerender(repo: Path) -> tuple[str, str, str] | None:
    log = git(repo, "log", "--format=%H%x00%cI%x00%B%x01", "HEAD")
    for entry in log.split("\x01"):
        parts = entry.strip().split("\x00")
        if len(parts) < 3:
            continue
        found = RERENDER.search(parts[2])
        if found:
            return parts[0], parts[1], found.group(1)
    return None


def version_time(version: str) -> dt.datetime:
    y, mo, d, h, mi, s = version.split(".")
    seconds = int(s) * 10 + 9 if len(s) == 1 else int(s)
    return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), min(seconds, 59), tzinfo=dt.UTC)


def pinning_commit(pinning: Path, version: str) -> str:
    limit = version_time(version)
    for line in git(pinning, "log", "--first-parent", "--format=%H %ct", "HEAD").splitlines():
        commit, stamp = line.split()
        if dt.datetime.fromtimestamp(int(stamp), dt.UTC) <= limit:
            return commit
    raise RuntimeError(f"no pinning commit before {version}")


def extract(repo: Path, commit: str, paths: list[str], into: Path) -> None:
    present = set(git(repo, "ls-tree", "--name-only", commit).split())
    wanted = [p for p in paths if p in present]
    data = git_bytes(repo, "archive", "--format=tar", commit, *wanted)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")


def main(argv: list[str]) -> int:
    pinning, out, *feedstocks = (Path(a) for a in argv)
    out.mkdir(parents=True, exist_ok=True)
    for repo in feedstocks:
        name = repo.parent.name.split("+", 1)[-1].removesuffix("-feedstock")
        found = rerender(repo)
        if found is None:
            print(f"{name}: no re-render commit")
            continue
        commit, date, version = found
        target = out / name
        if target.exists():
            subprocess.run(["rm", "-rf", str(target)], check=True)
        target.mkdir()
        extract(repo, commit, ["recipe", ".ci_support", "conda-forge.yml", "LICENSE.txt"], target)
        pin = pinning_commit(pinning, version)
        extract(pinning, pin, ["recipe"], target / ".pinning")
        v1 = (target / "recipe" / "recipe.yaml").is_file()
        (target / "SOURCE").write_text(
            f"repository: conda-forge/{name}-feedstock\ncommit: {commit}\ndate: {date}\n"
            f"format: {'v1' if v1 else 'v0'}\npinning: {version} (conda-forge-pinning-feedstock {pin})\n"
        )
        print(f"{name}: {commit[:12]} {date} {'v1' if v1 else 'v0'} pinning {version} -> {pin[:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

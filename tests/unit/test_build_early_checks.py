"""Built packages are checked while the engine still works (issue 12, B7): a check counts only for
the bytes the file still has, and a check of a file the engine was still writing is done again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cipub.core.artifact import file_digests, read_artifact
from cipub.core.errors import InvalidPackageError
from cipub.engines.rattler_build import PackageWatch
from cipub.workflows.build import _EarlyChecks
from tests.support.packages import make_package


def _replace_with(path: Path, source: Path) -> None:
    """``path`` gets ``source``'s bytes as a new file (as an engine rewrites its output)."""
    shutil.copyfile(source, path.with_suffix(".part"))
    os.replace(path.with_suffix(".part"), path)


def test_a_check_of_an_unchanged_file_is_used(tmp_path: Path) -> None:
    package = make_package(tmp_path / "out", "early")
    with _EarlyChecks() as checks:
        checks.prepare()  # as the engine calls it once the build runs: the checks' imports first
        checks.start(package)
        early = checks._started[package][1].result()
        assert checks.result(package) is early
    assert early == read_artifact(package)


def test_a_file_rewritten_after_its_check_began_is_checked_again(tmp_path: Path) -> None:
    package = make_package(tmp_path / "out", "early", payload="first build")
    rebuilt = make_package(tmp_path / "other", "early", payload="second build")
    assert rebuilt.name == package.name
    with _EarlyChecks() as checks:
        checks.start(package)
        first = checks._started[package][1].result()
        _replace_with(package, rebuilt)
        final = checks.result(package)
    assert final.sha256 == file_digests(rebuilt)[0] != first.sha256


def test_a_file_still_being_written_is_not_reported_damaged(tmp_path: Path) -> None:
    package = make_package(tmp_path / "out", "early")
    whole = package.read_bytes()
    package.write_bytes(whole[: len(whole) // 2])  # what a reader sees mid-write
    with _EarlyChecks() as checks:
        checks.start(package)
        with pytest.raises(InvalidPackageError):
            checks._started[package][1].result()
        package.write_bytes(whole)
        assert checks.result(package).sha256 == file_digests(package)[0]


def test_a_package_that_stays_damaged_is_refused(tmp_path: Path) -> None:
    package = make_package(tmp_path / "out", "early")
    package.write_bytes(package.read_bytes()[:-200])
    with _EarlyChecks() as checks:
        checks.start(package)
        with pytest.raises(InvalidPackageError, match="damaged or truncated"):
            checks.result(package)


def test_a_package_never_announced_is_checked_after_the_build(tmp_path: Path) -> None:
    package = make_package(tmp_path / "out", "late")
    with _EarlyChecks() as checks:
        assert checks.result(package) == read_artifact(package)


def test_the_watch_announces_new_and_rewritten_packages_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old = make_package(out / "a", "old")
    kept = make_package(out / "b", "kept")
    for path in (old, kept):  # into OUT/noarch/, as engines write them
        (out / "noarch").mkdir(exist_ok=True)
        os.replace(path, out / "noarch" / path.name)
    old, kept = out / "noarch" / old.name, out / "noarch" / kept.name
    from cipub.engines.base import package_files

    seen: list[str] = []
    watch = PackageWatch(out, package_files(out), lambda p: seen.append(p.name), every=0)
    watch.poll()
    assert seen == []
    new = make_package(tmp_path / "new", "new")
    os.replace(new, out / "noarch" / new.name)
    _replace_with(old, make_package(tmp_path / "again", "old", payload="rebuilt"))
    watch.poll()
    watch.poll()  # each file once, until it changes again
    assert sorted(seen) == sorted([new.name, old.name])

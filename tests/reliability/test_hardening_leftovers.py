"""Issue 18, second round: what the last red team still found after the first round of hardening
(tests/reliability/test_hardening.py). Each test failed on main before its fix. Figures go to the
"hardening" section of docs/reliability.md, like the first round's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.core.manifest import write as write_manifest
from tests.conftest import CliResult
from tests.reliability import figures
from tests.reliability.helpers import run_cipub
from tests.support.packages import make_package

Cli = Callable[..., CliResult]


def _held(klass: str, case: str, held: bool = True, n: int = 1) -> None:
    figures.record("hardening", f"{klass}: {case}", cases=n, held=n if held else 0)


def _one_line(result: CliResult) -> bool:
    return result.err.count("cipub: error:") == 1 and "Traceback" not in result.err + result.out


def _manifest(directory: Path, *paths: Path) -> Path:
    entries = [ArtifactEntry.from_artifact(read_artifact(p)) for p in paths]
    return Path(write_manifest(Manifest(artifacts=entries), directory / "cipub-manifest.json"))


# -- class 1: channel-layout integrity -----------------------------------------------------------


def test_status_reports_junk_and_never_lists_it_as_a_package(cipub: Cli, tmp_path: Path) -> None:
    """A non-package named like one and a build-string case twin of a real file are junk to the
    index; status listed them as promoted packages. Now they are reported as junk and skipped."""
    channel = tmp_path / "ch"
    package = make_package(tmp_path / "pkgs", "good", payload="1")
    assert cipub("upload", str(package), "--target", str(channel), "--label", "main", cwd=tmp_path).code == 0
    noarch = channel / "noarch"
    (noarch / "good-2.0-0.conda").write_bytes(b"not a zip")
    twin = noarch / package.name.replace("h0000000", "H0000000")
    shutil.copyfile(package, twin)
    result = cipub("status", "good", "--target", str(channel), "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [f["filename"] for f in doc["files"]] == [package.name], doc["files"]
    assert {j["path"] for j in doc["junk"]} == {"noarch/good-2.0-0.conda", f"noarch/{twin.name}"}
    assert doc["summary"] == {"promoted": 1, "junk": 2}
    human = cipub("status", "good", "--target", str(channel), cwd=tmp_path)
    assert human.code == 0 and "junk" in human.out and "2 junk, 1 promoted" in human.out, human.out
    assert (noarch / "good-2.0-0.conda").is_file() and twin.is_file(), "junk is never deleted"
    _held("1 layout", "junk and case twins in status", n=2)


# -- class 2: batch integrity --------------------------------------------------------------------


def test_manifest_sha256_or_size_not_the_files_is_exit_8(cipub: Cli, tmp_path: Path) -> None:
    """A manifest whose sha256 is wrong, against a channel that holds the real file, was exit 6 (a
    conflict); a wrong size with the right sha256 was skipped as identical, exit 0. Both are a
    manifest that does not describe its file: exit 8, before anything is decided or written."""
    package = make_package(tmp_path / "pkgs", "edited", payload="e")
    channel = tmp_path / "ch"
    assert cipub("upload", str(package), "--target", str(channel), cwd=tmp_path).code == 0
    before = sorted(p.name for p in channel.rglob("*.conda"))
    manifest = _manifest(tmp_path, package)
    data = json.loads(manifest.read_text())
    cases = {"sha256": "0" * 64, "size": data["artifacts"][0]["size"] + 1}
    for field, value in cases.items():
        edited = json.loads(manifest.read_text())
        edited["artifacts"][0][field] = value
        path = tmp_path / f"edited-{field}.json"
        path.write_text(json.dumps(edited))
        for target in (channel, tmp_path / f"fresh-{field}"):
            result = cipub("upload", "-M", str(path), "--target", str(target), cwd=tmp_path)
            assert result.code == 8, (field, target, result.err)
            assert "does not describe" in result.err and _one_line(result), result.err
            assert "cipub: hint:" in result.err
        assert not (tmp_path / f"fresh-{field}").exists() or not list((tmp_path / f"fresh-{field}").rglob("*.conda"))
    assert sorted(p.name for p in channel.rglob("*.conda")) == before
    _held("2 batch", "manifest sha256 / size not the file's (channel holds the real one, and empty)", n=4)


# -- class 6: process edges ----------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/proc/sys/kernel", "/proc", "/sys/kernel", "/sys"])
def test_pseudo_filesystem_target_is_exit_10_at_once(target: str, tmp_path: Path) -> None:
    """--target /proc/sys/kernel hung (filelock retried a lock file it could not create for ever),
    /sys was exit 5 and /proc exit 2: each is storage that cannot hold a channel, exit 10, one line.
    Run as a process with a timeout: a hang fails the test instead of stalling the suite."""
    package = make_package(tmp_path / "pkgs", "pseudo", payload="p")
    for command in (["upload", str(package)], ["status", "pseudo"]):
        result = run_cipub(*command, "--target", target, cwd=tmp_path, timeout=120)
        assert result.returncode == 10, (command, result.stderr)
        assert "pseudo-filesystem" in result.stderr and result.stderr.count("cipub: error:") == 1
        assert "cipub: hint:" in result.stderr
    _held("6 process", f"--target on a pseudo-filesystem ({target})")

"""Hostile package files are refused before anything is sent: by ``read_artifact`` (exit 9), and
by ``cipub upload`` end to end, leaving the channel empty and printing one line, no traceback.

Every file here is made by hand (``craft.py``), because building tools refuse to make them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cipub.core.artifact import MAX_UNPACKED_BYTES, read_artifact
from cipub.core.errors import InvalidPackageError
from tests.conftest import CliResult
from tests.reliability import figures
from tests.reliability.craft import (
    GiB,
    Member,
    Spec,
    info_members,
    tar_bytes,
    tar_header,
    write_conda,
    write_tar_bz2,
    zstd_zero_bomb,
)
from tests.reliability.helpers import local_truth

OK_FILE = Member("share/evil/readme.txt", b"hello")


def _both(spec: Spec) -> Callable[[Path], list[Path]]:
    return lambda d: [write_conda(d, spec), write_tar_bz2(d, spec)]


def _conda_bomb(d: Path) -> list[Path]:
    # One member whose 65 GiB of zeros really are in the stream (RLE blocks: 2 MB on disk).
    spec = Spec(name="bomb")
    too_big = MAX_UNPACKED_BYTES + GiB
    body = zstd_zero_bomb(tar_header("share/bomb/zeros", too_big), too_big + 1024)
    return [write_conda(d, spec, pkg_zst=body)]


def _small_conda_bomb(d: Path) -> list[Path]:
    # 4 GiB of zeros in 130 kB: under the absolute limit, but no real package inflates 30000x.
    body = zstd_zero_bomb(tar_header("share/bomb/zeros", 4 * GiB), 4 * GiB + 1024)
    return [write_conda(d, Spec(name="bomb"), pkg_zst=body)]


def _bz2_declared_bomb(d: Path) -> list[Path]:
    # The tar header announces 65 GiB; the check must not need to read them to say no.
    spec = Spec(name="bomb2")
    raw = tar_bytes(info_members(spec), close=False)
    raw += tar_header("share/bomb2/zeros", MAX_UNPACKED_BYTES + GiB) + b"\0" * (1024 * 1024)
    return [write_tar_bz2(d, spec, raw_tar=raw)]


def _pkg_overrides_info(d: Path) -> list[Path]:
    # .conda: the pkg tar smuggles a second info/index.json (same name, other dependencies): the
    # info component and a full extraction would describe different packages.
    smuggled = (
        b'{"name": "evil", "version": "1.0", "build": "0", "build_number": 0, "subdir": "noarch", '
        b'"noarch": "generic", "depends": ["malware"]}'
    )
    return [write_conda(d, Spec(pkg=[OK_FILE, Member("info/index.json", smuggled)]))]


def _duplicate_index(d: Path) -> list[Path]:
    # .tar.bz2 whose FIRST info/index.json lies (build_number 99, other depends) and whose last one
    # is plain: readers taking the first member and readers taking the last see different packages.
    spec = Spec()
    first = (
        b'{"name": "evil", "version": "1.0", "build": "0", "build_number": 99, "subdir": "noarch", '
        b'"noarch": "generic", "depends": ["malware"]}'
    )
    raw = tar_bytes([Member("info/index.json", first), *info_members(spec), OK_FILE])
    return [write_tar_bz2(d, spec, raw_tar=raw)]


def _not_a_package(d: Path) -> list[Path]:
    bad = d / "evil-1.0-0.conda"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    return [bad]


def _truncated(d: Path) -> list[Path]:
    good = write_conda(d, Spec(pkg=[Member("share/x.bin", bytes(range(256)) * 400)]))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    return [good]


CASES: dict[str, Callable[[Path], list[Path]]] = {
    "path escapes with ..": _both(Spec(pkg=[OK_FILE, Member("../../outside.txt", b"x")])),
    "absolute path": _both(Spec(pkg=[Member("/etc/evil.conf", b"x")])),
    "backslash path escape": _both(Spec(pkg=[Member("..\\..\\outside.txt", b"x")])),
    "drive-letter path": _both(Spec(pkg=[Member("C:/Windows/evil.dll", b"x")])),
    "symlink to absolute path": _both(Spec(pkg=[Member("share/evil/passwd", kind="symlink", target="/etc/passwd")])),
    "symlink out with ..": _both(Spec(pkg=[Member("share/evil/up", kind="symlink", target="../../../..")])),
    "hardlink out": _both(Spec(pkg=[OK_FILE, Member("share/evil/hl", kind="hardlink", target="../../../etc/x")])),
    "device file": _both(Spec(pkg=[Member("share/evil/null", kind="chardev")])),
    "index.json lies about name": _both(Spec(index={"name": "numpy"})),
    "index.json lies about version": _both(Spec(index={"version": "9.9"})),
    "noarch package claims linux-64": _both(Spec(index={"subdir": "linux-64"})),
    "subdir escapes with ..": _both(Spec(index={"subdir": "../../etc", "noarch": None})),
    "subdir with a slash": _both(Spec(index={"subdir": "linux-64/../x", "noarch": None})),
    "build_number not a number": _both(Spec(index={"build_number": "0; rm -rf /"})),
    "index.json is not an object": _both(Spec(info_extra=[], index={}, pkg=[])),  # replaced below
    "no index.json": lambda d: [write_tar_bz2(d, Spec(), raw_tar=b"\0" * 1024)],
    "pkg tar smuggles info/index.json": _pkg_overrides_info,
    "two index.json that disagree": _duplicate_index,
    "zstd bomb (65 GiB of zeros)": _conda_bomb,
    "zstd bomb (4 GiB of zeros in 130 kB)": _small_conda_bomb,
    "tar header declaring 65 GiB": _bz2_declared_bomb,
    "not a zip at all": _not_a_package,
    "truncated download": _truncated,
}


def _index_not_object(d: Path) -> list[Path]:
    spec = Spec()
    raw = tar_bytes([Member("info/index.json", b"[1, 2, 3]"), OK_FILE])
    return [write_tar_bz2(d, spec, raw_tar=raw)]


CASES["index.json is not an object"] = _index_not_object


@pytest.mark.parametrize("case", sorted(CASES))
def test_read_artifact_refuses(case: str, tmp_path: Path) -> None:
    paths = CASES[case](tmp_path)
    for path in paths:
        start = time.monotonic()
        with pytest.raises(InvalidPackageError) as caught:
            read_artifact(path)
        elapsed = time.monotonic() - start
        assert "\n" not in caught.value.message
        figures.record("malicious", case, files=1, refused=1, max_refuse_s=round(elapsed, 3))


def test_cipub_upload_refuses_every_hostile_file(cipub: Callable[..., CliResult], tmp_path: Path) -> None:
    """End to end: exit 9, one error line, nothing on the channel, for each file of each case."""
    channel = tmp_path / "channel"
    refused = 0
    for case, make in sorted(CASES.items()):
        directory = tmp_path / case.replace(" ", "_").replace("/", "_")
        directory.mkdir()
        for path in make(directory):
            result = cipub("upload", str(path), "--target", str(channel), "--label", "test", cwd=tmp_path)
            assert result.code == 9, (case, path.name, result.code, result.err)
            assert "Traceback" not in result.err + result.out
            assert result.err.count("cipub: error:") == 1, result.err
            refused += 1
    assert local_truth(channel).files == {} if channel.exists() else True
    figures.record("malicious", "cipub upload (all cases)", files=refused, refused=refused, exit_code=9)


def test_a_clean_crafted_package_is_accepted(tmp_path: Path) -> None:
    """The crafting itself is sound: the same layout without the hostile part reads fine."""
    for path in _both(Spec(pkg=[OK_FILE, Member("share/evil/link", kind="symlink", target="readme.txt")]))(tmp_path):
        artifact = read_artifact(path)
        assert (artifact.name, artifact.version, artifact.subdir) == ("evil", "1.0", "noarch")

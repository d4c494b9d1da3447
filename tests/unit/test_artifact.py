"""The package reader: metadata from a real package; damaged or lying packages refused."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from cipub.core.artifact import read_artifact
from cipub.core.errors import InvalidPackageError
from tests.support.packages import make_package


def _tar_bz2(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:bz2") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def _index(**over: object) -> bytes:
    data = {"name": "evil", "version": "1.0", "build": "0", "build_number": 0, "subdir": "linux-64"}
    data.update(over)
    return json.dumps(data).encode()


def test_reads_conda(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "demo", "1.0", 3)
    a = read_artifact(pkg)
    assert (a.name, a.version, a.build, a.build_number) == ("demo", "1.0", "h0000000_3", 3)
    assert (a.subdir, a.noarch) == ("noarch", "generic")
    assert a.sha256 == hashlib.sha256(pkg.read_bytes()).hexdigest()
    assert a.size == pkg.stat().st_size
    assert a.key == "noarch/demo-1.0-h0000000_3.conda"


def test_reads_tar_bz2_platform_package(tmp_path: Path) -> None:
    a = read_artifact(make_package(tmp_path, "demo", "2.0", 1, subdir="linux-64", tar_bz2=True))
    assert (a.subdir, a.noarch, a.filename) == ("linux-64", None, "demo-2.0-h0000000_1.tar.bz2")


def test_records_binaries_for_noarch_advice(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "lib", "1.0", 0, subdir="linux-64", files={"lib/libx.so": "ELF", "a.py": "x=1"})
    a = read_artifact(pkg)
    assert a.binary_files == ("lib/libx.so",)
    assert a.has_python_files


def test_truncated_conda_refused(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "demo", "1.0", 0, size_bytes=200_000)
    data = pkg.read_bytes()
    pkg.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidPackageError, match="damaged or truncated"):
        read_artifact(pkg)


def test_truncated_tar_bz2_refused(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "demo", "1.0", 0, tar_bz2=True, size_bytes=300_000)
    data = pkg.read_bytes()
    pkg.write_bytes(data[: len(data) - 200])
    with pytest.raises(InvalidPackageError, match="damaged or truncated"):
        read_artifact(pkg)


def test_index_disagrees_with_filename(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "demo", "1.0", 0, tar_bz2=True)
    liar = pkg.with_name("other-1.0-h0000000_0.tar.bz2")
    pkg.rename(liar)
    with pytest.raises(InvalidPackageError, match="disagrees with the file name: name 'demo'") as info:
        read_artifact(liar)
    assert info.value.hint and "rename it back to demo-1.0-h0000000_0.tar.bz2" in info.value.hint


@pytest.mark.parametrize(
    ("renamed", "said"),
    [
        ("other-1.0-h0_0.conda", "name 'demo' (file name says 'other'), build 'h0000000_0' (file name says 'h0_0')"),
        ("demo-2.0-h0000000_0.conda", "version '1.0' (file name says '2.0')"),
    ],
)
def test_a_renamed_conda_says_its_name_is_not_its_index_json(cipub, tmp_path: Path, renamed: str, said: str) -> None:  # type: ignore[no-untyped-def]
    """A .conda finds its components by its file name (info-<stem>.tar.zst): renamed, it was called
    damaged or truncated (conda_package_streaming's LookupError). It is a name that lies: exit 9."""
    pkg = make_package(tmp_path, "demo", "1.0", 0)
    liar = pkg.rename(pkg.with_name(renamed))
    with pytest.raises(InvalidPackageError, match="the file name does not match the package inside") as info:
        read_artifact(liar)
    assert f"its info/index.json says {said}" in info.value.message
    assert info.value.hint and "rename it back to demo-1.0-h0000000_0.conda" in info.value.hint
    result = cipub("upload", str(liar), "--target", str(tmp_path / "chan"), cwd=tmp_path)
    assert result.code == 9, result.err
    assert "damaged" not in result.err and "truncated" not in result.err and "LookupError" not in result.err
    assert "cipub: hint: " in result.err


def test_noarch_claiming_platform_subdir(tmp_path: Path) -> None:
    pkg = _tar_bz2(tmp_path / "evil-1.0-0.tar.bz2", {"info/index.json": _index(noarch="python")})
    with pytest.raises(InvalidPackageError, match="claims subdir"):
        read_artifact(pkg)


@pytest.mark.parametrize("member", ["../escape.txt", "/etc/passwd", "a/../../b"])
def test_escaping_member_refused(tmp_path: Path, member: str) -> None:
    pkg = _tar_bz2(tmp_path / "evil-1.0-0.tar.bz2", {"info/index.json": _index(), member: b"x"})
    with pytest.raises(InvalidPackageError, match="escape"):
        read_artifact(pkg)


def test_symlink_out_refused(tmp_path: Path) -> None:
    pkg = _tar_bz2(tmp_path / "evil-1.0-0.tar.bz2", {"info/index.json": _index()}, links={"lib/x": "../../../etc"})
    with pytest.raises(InvalidPackageError, match="points outside"):
        read_artifact(pkg)


def test_bad_subdir_refused(tmp_path: Path) -> None:
    pkg = _tar_bz2(tmp_path / "evil-1.0-0.tar.bz2", {"info/index.json": _index(subdir="../x")})
    with pytest.raises(InvalidPackageError, match="subdir"):
        read_artifact(pkg)


def test_missing_index(tmp_path: Path) -> None:
    pkg = _tar_bz2(tmp_path / "evil-1.0-0.tar.bz2", {"info/about.json": b"{}"})
    with pytest.raises(InvalidPackageError, match="no info/index.json"):
        read_artifact(pkg)


def test_not_a_package_name(tmp_path: Path) -> None:
    f = tmp_path / "readme.txt"
    f.write_text("x")
    with pytest.raises(InvalidPackageError, match="not a conda package"):
        read_artifact(f)


def test_cli_refuses_damaged_package_and_writes_nothing(cipub, tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "demo", "1.0", 0, size_bytes=100_000)
    pkg.write_bytes(pkg.read_bytes()[: pkg.stat().st_size // 2])
    channel = tmp_path / "chan"
    result = cipub("upload", str(pkg), "--target", str(channel), cwd=tmp_path)
    assert result.code == 9
    assert "truncated" in result.err
    assert "Traceback" not in result.err
    assert not channel.exists()
    assert not (tmp_path / "output").exists()


def test_a_file_with_the_checked_sha256_is_not_decompressed_again(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cipub.core import artifact as artifact_mod

    pkg = make_package(tmp_path, "demo", "1.0", 3, size_bytes=50_000)
    full = read_artifact(pkg)
    scans: list[bool] = []
    real_scan = artifact_mod._scan

    def counting(path: Path, *, whole: bool = True):  # type: ignore[no-untyped-def]
        scans.append(whole)
        return real_scan(path, whole=whole)

    monkeypatch.setattr(artifact_mod, "_scan", counting)
    quick = read_artifact(pkg, checked_sha256=full.sha256, checked_size=full.size)
    assert scans == [False]
    assert (quick.key, quick.sha256, quick.size, quick.build_number, quick.index) == (
        full.key,
        full.sha256,
        full.size,
        full.build_number,
        full.index,
    )


def test_a_changed_file_is_checked_in_full_whatever_the_manifest_says(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "demo", "1.0", 0, size_bytes=200_000)
    checked = read_artifact(pkg)
    data = pkg.read_bytes()
    pkg.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidPackageError, match="damaged or truncated"):
        read_artifact(pkg, checked_sha256=checked.sha256, checked_size=checked.size)
    with pytest.raises(InvalidPackageError, match="damaged or truncated"):
        read_artifact(pkg, checked_sha256=checked.sha256)  # no size given: the sha256 decides


def _rewrite_component(package: Path, component: str, rewrite: object) -> Path:
    """A copy of the .conda ``package`` whose ``component`` (info/pkg) .tar.zst bytes are
    ``rewrite(tar_bytes)`` (the zip itself stays valid: its CRC is of the new bytes)."""
    import zipfile

    import backports.zstd as zstd

    out = package.parent / "rewritten" / package.name
    out.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith(f"{component}-"):
                data = rewrite(zstd.decompress(data))  # type: ignore[operator]
            dst.writestr(info, data)
    return out


def _frames(tar: bytes) -> bytes:
    import backports.zstd as zstd

    half = len(tar) // 2
    return zstd.compress(tar[:half]) + zstd.compress(tar[half:])  # one tar in two zstd frames


def _truncated(tar: bytes) -> bytes:
    import backports.zstd as zstd

    whole = zstd.compress(tar)
    return whole[: len(whole) - 8]


@pytest.mark.parametrize("in_memory", [True, False])
def test_small_components_read_in_memory_and_streamed_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_memory: bool
) -> None:
    """Components are decompressed in one call up to IN_MEMORY_COMPONENT_BYTES (issue 12), else
    streamed: the same packages pass, with the same metadata, and the same damage is refused."""
    from cipub.core import artifact

    if not in_memory:
        monkeypatch.setattr(artifact, "IN_MEMORY_COMPONENT_BYTES", -1)
    pkg = make_package(tmp_path, "demo", "1.0", 3, files={"bin/tool.so": "x" * 5000, "lib/a.py": "print(1)"})
    got = read_artifact(pkg)
    assert (got.name, got.build_number, got.binary_files, got.has_python_files) == ("demo", 3, ("bin/tool.so",), True)
    for component in ("info", "pkg"):
        framed = read_artifact(_rewrite_component(pkg, component, _frames))  # several frames: streamed
        assert (framed.name, framed.build_number, framed.binary_files) == (got.name, 3, got.binary_files)
        with pytest.raises(InvalidPackageError, match="damaged or truncated"):
            read_artifact(_rewrite_component(pkg, component, _truncated))


def test_hash_input_is_read_as_single_text_values() -> None:
    from cipub.core.artifact import _hash_input

    assert _hash_input(b'{"python": "3.12.* *_cpython", "flag": true, "n": 13, "zips": [1], "m": {}}') == {
        "python": "3.12.* *_cpython",
        "flag": "true",
        "n": "13",
    }
    assert _hash_input(b"[1]") is None and _hash_input(b"not json") is None

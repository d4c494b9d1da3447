"""Hand-made hostile conda packages: built byte by byte with zipfile/tarfile/bz2/zstd, not by a tool
that would refuse to make them.

A ``.conda`` is a stored zip holding ``metadata.json`` and two zstd-compressed tars,
``info-<stem>.tar.zst`` and ``pkg-<stem>.tar.zst``; a ``.tar.bz2`` is one bzip2 tar with both.
"""

from __future__ import annotations

import bz2
import io
import json
import struct
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from backports import zstd

GiB = 1024**3


@dataclass
class Member:
    name: str
    data: bytes = b""
    #: "file", "symlink", "hardlink", "dir", "chardev", "fifo", "setuid" (a regular file, mode 4755)
    kind: str = "file"
    target: str = ""
    #: size written into the tar header when it differs from len(data) (a lying header)
    declared_size: int | None = None


@dataclass
class Spec:
    name: str = "evil"
    version: str = "1.0"
    build: str = "0"
    index: dict[str, object] = field(default_factory=dict)
    pkg: list[Member] = field(default_factory=list)
    info_extra: list[Member] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"

    def index_json(self) -> dict[str, object]:
        base: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "build_number": 0,
            "subdir": "noarch",
            "noarch": "generic",
            "depends": [],
        }
        base.update(self.index)
        return {k: v for k, v in base.items() if v is not None}


def tar_bytes(members: Iterable[Member], *, close: bool = True) -> bytes:
    """An uncompressed tar of ``members``; ``close=False`` leaves off the end-of-archive blocks."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.mode = 0o644
            if m.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, m.target
            elif m.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, m.target
            elif m.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif m.kind == "chardev":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif m.kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif m.kind == "setuid":
                info.mode, info.size = 0o4755, len(m.data)
            else:
                info.size = len(m.data)
            tar.addfile(info, io.BytesIO(m.data) if m.kind in ("file", "setuid") else None)
    data = out.getvalue()
    if not close:
        data = data.rstrip(b"\0")
        data += b"\0" * (-len(data) % 512)
    return data


def info_members(spec: Spec) -> list[Member]:
    return [Member("info/index.json", json.dumps(spec.index_json()).encode()), *spec.info_extra]


def write_conda(directory: Path, spec: Spec, *, pkg_zst: bytes | None = None) -> Path:
    """A .conda; ``pkg_zst`` replaces the compressed pkg tar (for bombs made without compressing)."""
    path = directory / f"{spec.stem}.conda"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"info-{spec.stem}.tar.zst", zstd.compress(tar_bytes(info_members(spec))))
        zf.writestr(f"pkg-{spec.stem}.tar.zst", pkg_zst if pkg_zst is not None else zstd.compress(tar_bytes(spec.pkg)))
    return path


def write_tar_bz2(directory: Path, spec: Spec, *, raw_tar: bytes | None = None) -> Path:
    path = directory / f"{spec.stem}.tar.bz2"
    data = raw_tar if raw_tar is not None else tar_bytes([*info_members(spec), *spec.pkg])
    path.write_bytes(bz2.compress(data, 1))
    return path


def tar_header(name: str, size: int) -> bytes:
    """One 512-byte ustar header for a regular file of ``size`` bytes (any size: GNU base-256)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT)


def zstd_zero_bomb(prefix: bytes, zeros: int, suffix: bytes = b"") -> bytes:
    """A valid zstd frame: ``prefix`` + ``zeros`` zero bytes + ``suffix``, about 4 bytes per 128 KiB.

    Written block by block (raw and RLE blocks, RFC 8878 §3.1.1.2) instead of compressing, so a
    65 GiB expansion costs two megabytes and no time to make.
    """
    block_max = 128 * 1024
    out = bytearray(b"\x28\xb5\x2f\xfd")  # magic
    out += bytes([0x00, 0x38])  # frame header: no content size, no checksum; window 128 KiB

    def block(kind: int, size: int, payload: bytes, last: bool) -> bytes:
        header = (size << 3) | (kind << 1) | int(last)
        return struct.pack("<I", header)[:3] + payload

    pieces: list[tuple[int, int, bytes]] = []
    for start in range(0, len(prefix), block_max):
        chunk = prefix[start : start + block_max]
        pieces.append((0, len(chunk), chunk))
    remaining = zeros
    while remaining:
        n = min(block_max, remaining)
        pieces.append((1, n, b"\x00"))
        remaining -= n
    for start in range(0, len(suffix), block_max):
        chunk = suffix[start : start + block_max]
        pieces.append((0, len(chunk), chunk))
    for i, (kind, size, payload) in enumerate(pieces):
        out += block(kind, size, payload, i == len(pieces) - 1)
    return bytes(out)

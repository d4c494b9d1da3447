"""Make real, small conda packages for tests, quickly, with py-rattler-build's assembler."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from rattler_build import ArchiveType, assemble_package


def make_package(
    out_dir: Path,
    name: str = "demo",
    version: str = "1.0",
    build_number: int = 0,
    *,
    subdir: str = "noarch",
    noarch: Literal["python", "generic"] | None = "generic",
    build_string: str | None = None,
    payload: str = "hello",
    files: dict[str, str] | None = None,
    tar_bz2: bool = False,
    depends: list[str] | None = None,
    size_bytes: int = 0,
    summary: str = "a cipub test package",
) -> Path:
    """Build one package and return its path. ``payload`` changes the content (and sha256)."""
    if subdir != "noarch":
        noarch = None
    stage = out_dir / f".stage-{name}-{version}-{build_number}-{abs(hash((payload, build_string)))}"
    stage.mkdir(parents=True, exist_ok=True)
    contents = files or {f"share/{name}/payload.txt": payload}
    for rel, text in contents.items():
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if size_bytes:
        big = stage / "share" / name / "blob.bin"
        big.parent.mkdir(parents=True, exist_ok=True)
        with big.open("wb") as fh:
            chunk = bytes(range(256)) * 4096
            written = 0
            while written < size_bytes:
                n = min(len(chunk), size_bytes - written)
                fh.write(chunk[:n])
                written += n
    output = out_dir / "pkgs"
    output.mkdir(parents=True, exist_ok=True)
    result = assemble_package(
        name=name,
        version=version,
        target_platform=subdir,
        build_string=build_string or f"h0000000_{build_number}",
        output_dir=output,
        files_dir=stage,
        build_number=build_number,
        noarch=noarch,
        depends=depends,
        # info/about.json: rattler-build's uploader refuses packages without it
        summary=summary,
        archive_type=ArchiveType.TarBz2 if tar_bz2 else ArchiveType.Conda,
        compression_level=1,
    )
    return Path(result.path)

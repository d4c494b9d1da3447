"""Attestations stored beside the packages of a static channel directory (local; S3 lays out the same).

Per package file ``F`` in ``<label dir>/<subdir>/``:

* keyless (Sigstore): the CEP 50 sidecar ``F.sigs.<sha256 of the sidecar>``, a JSON array of Sigstore
  bundles, advertised by ``attestations_sha256`` in F's repodata record, so conda clients that
  verify attestations (py-rattler's ``verify_attestation``) find and check it; and the same bytes
  at CEP 50's mutable URL ``F.sigs`` (the current set, replaced whenever it changes - unlike the
  package files and the content-addressed sidecar, never trusted without checking its content);
* key-signed: ``F.dsse.json``, the DSSE envelope (no conda client reads it; ``cipub promote
  --require-attestation key:...`` and the README say how to check it).

Neither name ends in ``.conda``/``.tar.bz2``, so indexers and the channel listing ignore them. The
repodata annotation is re-applied after every re-index (the indexer rewrites repodata.json), from
the sidecars on disk: the directory is the single source of truth.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from cipub.core.attest import KEY_ENVELOPE_SUFFIX, MUTABLE_SIDECAR_SUFFIX, SIDECAR_INFIX, sidecar_name
from cipub.core.files import write_atomically


def _write_atomic(path: Path, data: bytes) -> None:
    write_atomically(path, data, mode=0o644, suffix=".part")  # served to others: not mkstemp's 0600


def _starting(names: Sequence[str], prefix: str) -> Iterator[str]:
    """The names of the sorted ``names`` that start with ``prefix``, in order."""
    for i in range(bisect.bisect_left(names, prefix), len(names)):
        if not names[i].startswith(prefix):
            return
        yield names[i]


def _listed(names: Sequence[str] | None, name: str) -> bool:
    """Is ``name`` in the sorted ``names`` (True when there is no listing: ask the disk)?"""
    if names is None:
        return True
    i = bisect.bisect_left(names, name)
    return i < len(names) and names[i] == name


def sidecars(subdir_dir: Path, filename: str, names: Sequence[str] | None = None) -> list[Path]:
    """The CEP 50 sidecars of ``filename`` whose name matches their content (others are ignored).

    ``names``: the entries of ``subdir_dir``, sorted, as the caller listed them this batch; without
    it the directory is scanned, once per call (a caller visiting many files passes its listing).
    """
    found = []
    prefix = f"{filename}{SIDECAR_INFIX}"
    if names is None:
        candidates = sorted(subdir_dir.glob(f"{prefix}*"))
    else:
        candidates = [subdir_dir / n for n in _starting(names, prefix) if len(n) > len(prefix)]
    for path in candidates:
        suffix = path.name[len(filename) + len(SIDECAR_INFIX) :]
        if path.is_file() and not path.is_symlink() and hashlib.sha256(path.read_bytes()).hexdigest() == suffix:
            found.append(path)
    return found


def put(subdir_dir: Path, filename: str, kind: str, data: bytes) -> Path:
    """Store ``filename``'s attestation of ``kind``, replacing the one it had."""
    subdir_dir.mkdir(parents=True, exist_ok=True)
    if kind == "key":
        dest = subdir_dir / f"{filename}{KEY_ENVELOPE_SUFFIX}"
        _write_atomic(dest, data)
        return dest
    dest = subdir_dir / sidecar_name(filename, data)
    if not dest.is_file():
        _write_atomic(dest, data)
    mutable = subdir_dir / f"{filename}{MUTABLE_SIDECAR_SUFFIX}"
    if mutable.is_symlink() or not mutable.is_file() or mutable.read_bytes() != data:
        _write_atomic(mutable, data)  # CEP 50's mutable URL: the current set, replaced in one rename
    for old in subdir_dir.glob(f"{filename}{SIDECAR_INFIX}*"):
        if old != dest:
            old.unlink(missing_ok=True)
    return dest


def get(subdir_dir: Path, filename: str, kind: str) -> bytes | None:
    if kind == "key":
        path = subdir_dir / f"{filename}{KEY_ENVELOPE_SUFFIX}"
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None
    found = sidecars(subdir_dir, filename)
    return found[-1].read_bytes() if found else None


def attestation_files(subdir_dir: Path, filename: str, names: Sequence[str] | None = None) -> list[Path]:
    """Every stored attestation of ``filename`` (to carry along when the file gets another label);
    ``names`` as for :func:`sidecars`."""
    envelope = subdir_dir / f"{filename}{KEY_ENVELOPE_SUFFIX}"
    mutable = subdir_dir / f"{filename}{MUTABLE_SIDECAR_SUFFIX}"
    found = sidecars(subdir_dir, filename, names)
    if found and _listed(names, mutable.name) and mutable.is_file() and not mutable.is_symlink():
        found.append(mutable)
    return found + ([envelope] if _listed(names, envelope.name) and envelope.is_file() else [])


#: what py-rattler's indexer writes besides repodata.json when asked to: static channels here are
#: indexed without them (clients prefer repodata.json.zst / shards, which would not carry
#: ``attestations_sha256``), and stale copies an earlier indexer left are deleted
STALE_INDEX_FILES = ("repodata.json.zst", "repodata_shards.msgpack.zst")
#: the folder of sharded repodata an earlier indexer may have left
STALE_SHARDS_DIR = "shards"


def sidecar_digest(name: str, filename: str) -> str | None:
    """The sha256 in the name of a CEP 50 sidecar of ``filename`` (None if ``name`` is not one)."""
    prefix = f"{filename}{SIDECAR_INFIX}"
    if not name.startswith(prefix):
        return None
    digest = name[len(prefix) :]
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None


def annotate_records(repodata: dict[str, object], digests: Mapping[str, str]) -> bool:
    """Set ``attestations_sha256`` (CEP 50) on the records of ``repodata`` whose file has a sidecar
    (``digests``: file name -> sha256 of its sidecar, checked against its content by the caller).
    Shared by the local and the S3 channel; True when something changed."""
    changed = False
    for group in ("packages", "packages.conda"):
        records = repodata.get(group)
        if not isinstance(records, dict):
            continue
        for filename, record in records.items():
            digest = digests.get(filename)
            if digest is None or not isinstance(record, dict):
                continue
            if record.get("attestations_sha256") != digest:
                record["attestations_sha256"] = digest
                changed = True
    return changed


def encode_repodata(repodata: dict[str, object]) -> bytes:
    return json.dumps(repodata, indent=2, sort_keys=True).encode()


def annotate_repodata(subdir_dir: Path) -> None:
    """Set ``attestations_sha256`` on the records of files that have a sidecar (CEP 50)."""
    path = subdir_dir / "repodata.json"
    if not any(name.name.count(SIDECAR_INFIX) for name in subdir_dir.glob(f"*{SIDECAR_INFIX}*")):
        return
    try:
        repodata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(repodata, dict):
        return
    digests = {}
    for group in ("packages", "packages.conda"):
        records = repodata.get(group)
        for filename in records if isinstance(records, dict) else ():
            found = sidecars(subdir_dir, filename)
            if found:
                digests[filename] = found[-1].name.rsplit(SIDECAR_INFIX, 1)[1]
    if annotate_records(repodata, digests):
        _write_atomic(path, encode_repodata(repodata))

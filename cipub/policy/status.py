"""``cipub status``: where each file of some packages is, on the target and in the ledger.

A pure function of the channel's files and the ledger's facts (:mod:`cipub.policy.ledger`). Each
file gets one ``status``:

- ``promoted``: carries the release label (``--to``, default ``main``);
- ``staged``: carries the staging label (``--from``, default ``test``), neither of the others;
- ``yanked``: carries the broken label, not the release label;
- ``other``: on the target under other labels only (or none);
- ``only-in-ledger``: the ledger records it (built, perhaps staged once) but the target does not
  have it (never uploaded, upload failed, pruned, or deleted by someone else).

``labels`` lists every label the target holds the file under (with that copy's sha256), and
``ledger`` what the project's ledger says (``built``, ``staged``, ``promoted``, ``yanked``,
``pruned``, ``failed``), empty for files the ledger does not know; when the ledger recorded other
bytes under the file's name (the file was replaced on the target), ``ledger_sha256`` is their
sha256. ``cell`` (and ``job``) name the plan cell the ledger's build of that file was made for
(``cipub build --only``), when it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cipub.channels.base import ChannelFile, PackageIdentity
from cipub.policy.ledger import LedgerFacts

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FileStatus(PackageIdentity):
    status: str
    labels: dict[str, str | None] = field(default_factory=dict)
    ledger: tuple[str, ...] = ()
    #: the plan cell (and job, when one run built several cells) the file was built for, per the ledger
    cell: str | None = None
    job: str | None = None
    #: the sha256 the ledger recorded under this file name when it is not the target's (the file
    #: was replaced on the target after cipub built or staged it), and the ledger's words for it
    ledger_sha256: str | None = None
    ledger_other: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"


def _ledger_words(facts: LedgerFacts, key: str, sha: str | None) -> tuple[str, ...]:
    words = []
    pairs = [p for p in facts.known if p[0] == key and (sha is None or p[1] == sha)]
    for pair in pairs:
        words.append("built")
        if pair in facts.staged:
            words.append("staged")
        if pair in facts.promoted:
            words.append("promoted")
        if pair in facts.yanked:
            words.append("yanked")
        if pair in facts.pruned:
            words.append("pruned")
        if pair in facts.failed:
            words.append("failed")
    return tuple(dict.fromkeys(words))


def _other_bytes(facts: LedgerFacts, key: str, sha: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The sha256 (and its ledger words) the ledger recorded under ``key`` other than ``sha``: the
    staged one first. (None, ()) when the ledger knows ``sha`` itself or nothing under that name."""
    if sha is None or _ledger_words(facts, key, sha):
        return None, ()
    others = sorted((p for p in facts.known if p[0] == key and p[1] != sha), key=lambda p: p not in facts.staged)
    if not others:
        return None, ()
    return others[0][1], _ledger_words(facts, key, others[0][1])


def _cells(facts: LedgerFacts) -> dict[tuple[str, str | None], tuple[str, str | None]]:
    """(key, sha256) and (key, None) -> the plan cell and job the ledger's build of that file names."""
    found: dict[tuple[str, str | None], tuple[str, str | None]] = {}
    for (key, sha), (entry, _record) in facts.known.items():
        if entry.variant_id:
            found.setdefault((key, sha), (entry.variant_id, entry.job))
            found.setdefault((key, None), (entry.variant_id, entry.job))
    return found


def file_statuses(
    files: Iterable[ChannelFile], facts: LedgerFacts, names: set[str], *, staging: str, release: str, broken: str
) -> list[FileStatus]:
    """One row per file of ``names``: those on the target, then those only in the ledger."""
    rows: list[FileStatus] = []
    seen: set[str] = set()
    cells = _cells(facts)
    for f in sorted(files, key=lambda f: (f.name, f.version, f.build_number, f.key)):
        if f.name not in names or f.key in seen:
            continue
        seen.add(f.key)
        if release in f.labels:
            status = "promoted"
        elif broken in f.labels:  # a yanked file may still be in the staging label: it is not pending
            status = "yanked"
        elif staging in f.labels:
            status = "staged"
        else:
            status = "other"
        labels = {label: f.sha256_in(label) for label in sorted(f.labels)}
        rows.append(
            FileStatus(
                f.subdir,
                f.filename,
                f.name,
                f.version,
                f.build,
                f.build_number,
                f.sha256,
                status,
                labels,
                _ledger_words(facts, f.key, f.sha256),
                *cells.get((f.key, f.sha256), (None, None)),
            )
        )
        ledger_sha, ledger_other = _other_bytes(facts, f.key, f.sha256)
        if ledger_sha:
            rows[-1] = replace(rows[-1], ledger_sha256=ledger_sha, ledger_other=ledger_other)
    for (key, sha), (entry, _record) in sorted(facts.known.items()):
        if entry.name not in names or key in seen:
            continue
        seen.add(key)
        rows.append(
            FileStatus(
                entry.subdir,
                entry.filename,
                entry.name,
                entry.version,
                entry.build,
                entry.build_number,
                sha,
                "only-in-ledger",
                {},
                _ledger_words(facts, key, sha),
                entry.variant_id,
                entry.job,
            )
        )
    return rows


def status_document(
    target: str,
    rows: list[FileStatus],
    *,
    staging: str,
    release: str,
    broken: str,
    ledger: str,
    junk: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``cipub status --json`` document (schema ``cipub/schemas/status-1.schema.json``);
    ``junk``: the files the target passed over as not packages (path -> why)."""
    summary: dict[str, int] = {}
    for r in rows:
        summary[r.status] = summary.get(r.status, 0) + 1
    if junk:
        summary["junk"] = len(junk)
    return {
        "schema": SCHEMA_VERSION,
        "kind": "cipub-status",
        "target": target,
        "ledger": ledger,
        "labels": {"staging": staging, "release": release, "broken": broken},
        "files": [
            {
                "subdir": r.subdir,
                "filename": r.filename,
                "name": r.name,
                "version": r.version,
                "build": r.build,
                "build_number": r.build_number,
                "sha256": r.sha256,
                "status": r.status,
                "labels": r.labels,
                "ledger": list(r.ledger),
                # optional: a file built without a plan cell reads as before
                **({"cell": r.cell} if r.cell else {}),
                **({"job": r.job} if r.job else {}),
                **({"ledger_sha256": r.ledger_sha256} if r.ledger_sha256 else {}),
            }
            for r in rows
        ],
        "junk": [{"path": path, "reason": reason} for path, reason in sorted((junk or {}).items())],
        "summary": summary,
    }

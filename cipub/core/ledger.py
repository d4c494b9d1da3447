"""The ledger: every build, upload, promotion, yank and prune a project ran, never erased.

``<output-dir>/cipub-ledger/`` holds one JSON file per command run that did something (a *record*),
named ``<UTC time, microseconds>-<command>-<random>.json`` so a directory listing is the history in
order and two processes never write the same name. Records are written atomically (temp file +
``os.replace``) and never changed or deleted by cipub: a crashed or failed command leaves every
earlier record as it was, and adds at most its own.

A record (schema: ``cipub/schemas/ledger-record-1.schema.json``, ``"schema": 1``) is::

    {"schema": 1, "kind": "cipub-ledger-record", "id": ..., "command": "build", "at": ...,
     "outcome": "ok" | "failed", "error": null | "the one-line message",
     "target": null | "the target acted on, normalised (cipub.channels.target.ledger_target)",
     "manifest": {...a manifest, schema 1: artifacts + upload/promotion receipts of this run...},
     "actions": [{"action": "yank" | "prune", "state": ..., "target": ..., "label": ...,
                  "subdir": ..., "filename": ..., "sha256": ...}]}

What the records *mean* together (what is staged, promoted, yanked; what ``cipub promote`` acts on
by default) is decided in :mod:`cipub.policy.ledger`. The manifest file
(``<output-dir>/cipub-manifest.json``) stays what it was: the last build's manifest, a scratch file.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from cipub.core import manifest as manifest_mod
from cipub.core.errors import UsageError
from cipub.core.files import json_document, write_atomically
from cipub.core.manifest import Manifest

SCHEMA_VERSION = 1
KIND = "cipub-ledger-record"
#: the ledger's directory inside the output directory (wherever the settings put that)
LEDGER_DIRNAME = "cipub-ledger"

Command = Literal["build", "upload", "promote", "yank", "prune"]
Outcome = Literal["ok", "failed"]
ActionKind = Literal["yank", "prune"]


def ledger_dir(output_dir: str | Path) -> Path:
    """Where a project's ledger lives: derived from the output directory setting."""
    return Path(output_dir) / LEDGER_DIRNAME


@dataclass(frozen=True)
class LabelAction:
    """A yank or prune applied to one file: ``state`` says what happened (``yanked``,
    ``already-yanked``, ``pruned``, ``planned``)."""

    action: ActionKind
    state: str
    target: str
    label: str
    subdir: str
    filename: str
    sha256: str | None
    at: str = field(default_factory=manifest_mod.now)

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"


@dataclass
class Record:
    command: Command
    manifest: Manifest
    outcome: Outcome = "ok"
    error: str | None = None
    actions: list[LabelAction] = field(default_factory=list)
    at: str = field(default_factory=manifest_mod.now)
    id: str = ""
    #: the ``--target`` the command acted on, normalised (no secret, one spelling per channel);
    #: None: unknown (a record written before cipub recorded it, or a target that did not parse)
    target: str | None = None
    #: the file it was read from / written to
    path: Path | None = field(default=None, compare=False)

    def to_dict(self, ledger: Path) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "kind": KIND,
            "id": self.id,
            "command": self.command,
            "at": self.at,
            "outcome": self.outcome,
            "error": self.error,
            "target": self.target,
            "manifest": self.manifest.to_dict(relative_to=ledger),
            "actions": [asdict(a) for a in self.actions],
        }


def schema() -> dict[str, Any]:
    text = resources.files("cipub").joinpath("schemas/ledger-record-1.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _validate(data: Any, source: str) -> None:
    import jsonschema

    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise UsageError(f"{source}: not a cipub ledger record", hint=_MOVE_ASIDE)
    if data.get("schema") != SCHEMA_VERSION:
        raise UsageError(f"{source}: unsupported ledger schema {data.get('schema')!r} (this cipub reads 1)")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise UsageError(f"{source}: invalid ledger record at {where}: {error.message}", hint=_MOVE_ASIDE)


_MOVE_ASIDE = "cipub never edits the ledger: move that file out of the ledger directory if it is not cipub's"


def write(record: Record, ledger: Path) -> Path:
    """Add ``record`` to the ledger as a new file (atomically); never replaces a record."""
    ledger.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    record.id = record.id or f"{stamp}-{record.command}-{secrets.token_hex(4)}"
    path = ledger / f"{record.id}.json"
    text = json_document(record.to_dict(ledger))
    if path.exists():  # a name is never reused (the random part makes this practically impossible)
        raise UsageError(f"ledger record {path} already exists; not replacing it")
    write_atomically(path, text)
    record.path = path
    return path


def load(ledger: Path) -> list[Record]:
    """Every record of the ledger, oldest first ([] when there is no ledger yet)."""
    if not ledger.is_dir():
        return []
    records = []
    for path in sorted(ledger.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"cannot read ledger record {path}: {exc}", hint=_MOVE_ASIDE) from None
        _validate(data, str(path))
        manifest = Manifest.from_dict(data["manifest"], source=f"{path} (manifest)")
        manifest.base_dir = ledger
        records.append(
            Record(
                command=data["command"],
                manifest=manifest,
                outcome=data["outcome"],
                error=data.get("error"),
                actions=[LabelAction(**a) for a in data.get("actions", [])],
                at=data["at"],
                id=data["id"],
                target=data.get("target"),  # absent in records of older cipub: unknown
                path=path,
            )
        )
    return records

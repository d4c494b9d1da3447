"""The manifest: what a build produced, and what upload and promote did with it.

``output/cipub-manifest.json`` by default (rattler-build's ``output/``: ``dist/`` belongs to Python
packaging). Versioned (``"schema": 1``), validated against the shipped JSON Schema
(``cipub/schemas/manifest-1.schema.json``) on read, written atomically (temp file in the same
directory + ``os.replace``), and never holds a secret. ``cipub upload`` and ``cipub promote`` act on
the artifacts listed here, never on "whatever is in the label".
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from cipub import __version__
from cipub.core.decisions import BuildNumberDecision
from cipub.core.errors import StorageError, UsageError
from cipub.core.files import json_document, write_atomically
from cipub.core.options import DEFAULT_OUTPUT_DIR

if TYPE_CHECKING:
    from cipub.core.artifact import Artifact  # a manifest is read without importing the package reader

SCHEMA_VERSION = 1
DEFAULT_MANIFEST = Path(DEFAULT_OUTPUT_DIR) / "cipub-manifest.json"

UploadState = Literal["uploaded", "skipped-identical", "label-added", "conflict", "planned", "failed"]
PromotionState = Literal["promoted", "already-promoted", "removed-from-source", "planned", "failed"]


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class ArtifactEntry:
    filename: str
    subdir: str
    name: str
    version: str
    build: str
    build_number: int
    noarch: str | None
    sha256: str
    size: int
    path: str
    #: the values of the plan cell this file was built for (see ``variant_id``)
    variant: dict[str, str] = field(default_factory=dict)
    #: the plan cell this file was built for (``cipub build --only``), None without a plan
    variant_id: str | None = None
    #: the plan job that built it, when one engine run built several cells (``--only JOB``, conda-smithy's
    #: grouping); None otherwise (and then not written: manifests of single cells read as before)
    job: str | None = None
    #: the dependency channels the build solved from (its variant config's ``channel_sources``, or
    #: ``-c``): ``cipub ci verify`` installs the file from them; empty (not written): not recorded
    channels: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"

    @classmethod
    def from_artifact(
        cls,
        artifact: Artifact,
        variant: dict[str, str] | None = None,
        variant_id: str | None = None,
        job: str | None = None,
    ) -> ArtifactEntry:
        return cls(
            filename=artifact.filename,
            subdir=artifact.subdir,
            name=artifact.name,
            version=artifact.version,
            build=artifact.build,
            build_number=artifact.build_number,
            noarch=artifact.noarch,
            sha256=artifact.sha256,
            size=artifact.size,
            path=str(artifact.path),
            variant=dict(variant or {}),
            variant_id=variant_id,
            job=job,
        )


@dataclass
class FileReceipt:
    """The leading fields of every receipt: which file (and its sha256), on which target."""

    filename: str
    subdir: str
    sha256: str
    target: str


@dataclass
class UploadReceipt(FileReceipt):
    label: str
    state: UploadState
    at: str = field(default_factory=now)
    message: str | None = None


@dataclass
class PromotionReceipt(FileReceipt):
    from_label: str
    to_label: str
    state: PromotionState
    at: str = field(default_factory=now)
    message: str | None = None


@dataclass
class AttestationRecord:
    """A signed publish attestation (:mod:`cipub.core.attest`) for one file and target channel.

    ``document`` is the path of the Sigstore bundle / DSSE envelope, relative to the manifest
    (it is public: a certificate, a signature, a log entry; never the token or the key).
    """

    filename: str
    subdir: str
    sha256: str
    target_channel: str
    kind: str
    document: str
    document_sha256: str
    identity: str | None = None
    issuer: str | None = None
    at: str = field(default_factory=now)
    #: "publish" (CEP 27, what targets store and promotion checks) or "provenance" (SLSA v1, beside it)
    statement: str = "publish"

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"


@dataclass
class Manifest:
    artifacts: list[ArtifactEntry] = field(default_factory=list)
    build_numbers: list[BuildNumberDecision] = field(default_factory=list)
    uploads: list[UploadReceipt] = field(default_factory=list)
    promotions: list[PromotionReceipt] = field(default_factory=list)
    attestations: list[AttestationRecord] = field(default_factory=list)
    recipe: str | None = None
    engine: str | None = None
    #: a container build: ``{"image": NAME, "digest": sha256:...}`` of the image it ran in
    container: dict[str, str] | None = None
    created: str = field(default_factory=now)
    tool: dict[str, str] = field(default_factory=lambda: {"name": "cipub", "version": __version__})
    #: advice for the user, e.g. "this package could be noarch: python"
    notes: list[str] = field(default_factory=list)
    #: where relative artifact paths are anchored (the manifest's directory once written or loaded)
    base_dir: Path | None = field(default=None, compare=False, repr=False)

    def to_dict(self, *, relative_to: Path | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": SCHEMA_VERSION}
        data.update(_plain(self))
        del data["base_dir"]
        if not data["attestations"]:
            del data["attestations"]  # optional: manifests without attestations read as before
        if data["container"] is None:
            del data["container"]  # optional too: host builds read and write as before
        base = relative_to.absolute() if relative_to is not None else None  # once, not per file (getcwd)
        for entry, raw in zip(self.artifacts, data["artifacts"], strict=True):
            raw["path"] = self._portable_path(entry, base)
            if raw["job"] is None:
                del raw["job"]  # optional: what a build of one cell writes is what earlier cipub wrote
            if not raw["channels"]:
                del raw["channels"]  # optional too: a file uploaded on its own has no build to name
        return data

    def _portable_path(self, entry: ArtifactEntry, relative_to: Path | None) -> str:
        """Paths are stored relative to the manifest, so a manifest and its packages can move
        together (CI artifacts downloaded into another job's workspace)."""
        if relative_to is None:
            return entry.path
        located = self.artifact_path(entry).absolute()
        try:
            return os.path.relpath(located, relative_to if relative_to.is_absolute() else relative_to.absolute())
        except ValueError:  # another drive (Windows)
            return str(located)

    def artifact_path(self, entry: ArtifactEntry) -> Path:
        """Where the package file of ``entry`` is on this machine (best guess if moved).

        Found once per entry, path and base: a command asks several times per file (check, upload,
        the manifest's and the ledger's relative paths), a few stats each (issue 12).
        """
        known = self._found().get(id(entry))
        if known is not None and known[0] is entry and known[1] == entry.path and known[2] == self.base_dir:
            return known[3]
        located, exists = self._locate(entry)
        if exists:
            self._remember(entry, located)
        return located

    def _found(self) -> dict[int, tuple[ArtifactEntry, str, Path | None, Path]]:
        """id(entry) -> (entry, its path, the base, where its file was found); not a field (not written)."""
        found: dict[int, tuple[ArtifactEntry, str, Path | None, Path]] = self.__dict__.setdefault("_found_files", {})
        return found

    def _remember(self, entry: ArtifactEntry, located: Path) -> None:
        self._found()[id(entry)] = (entry, entry.path, self.base_dir, located)

    def _locate(self, entry: ArtifactEntry) -> tuple[Path, bool]:
        first: Path | None = None
        for candidate in self._candidates(entry):
            if candidate.is_file():
                return candidate, True
            first = first or candidate
        assert first is not None  # there is always one
        return first, False

    def _candidates(self, entry: ArtifactEntry) -> Iterator[Path]:
        """Where the file of ``entry`` may be, most likely first; each made only when the one before
        is not there (a manifest of 1,000 files is located once per command, issue 12)."""
        path = Path(entry.path)
        if path.is_absolute():
            yield path
        if self.base_dir is not None:
            yield self.base_dir / path
            yield self.base_dir / entry.subdir / entry.filename
            yield self.base_dir / entry.filename
        yield path

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "manifest") -> Manifest:
        validate(data, source=source)
        return cls(
            artifacts=[ArtifactEntry(**a) for a in data["artifacts"]],
            build_numbers=[BuildNumberDecision(**b) for b in data.get("build_numbers", [])],
            uploads=[UploadReceipt(**u) for u in data.get("uploads", [])],
            promotions=[PromotionReceipt(**p) for p in data.get("promotions", [])],
            attestations=[AttestationRecord(**a) for a in data.get("attestations", [])],
            recipe=data.get("recipe"),
            engine=data.get("engine"),
            container=data.get("container"),
            created=data.get("created", now()),
            tool=data.get("tool", {"name": "cipub", "version": __version__}),
            notes=list(data.get("notes", [])),
        )

    def entry(self, key: str) -> ArtifactEntry | None:
        for a in self.artifacts:
            if a.key == key:
                return a
        return None


#: values ``_plain`` passes through as they are
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` for JSON-shaped dataclasses, without its deep copy of every value
    (it dominated writing a manifest of 1,000 files and their receipts); scalars are taken as they
    are, without a call each (a receipt is a dozen of them)."""
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        plain = {}
        for name in fields:
            v = getattr(value, name)
            plain[name] = v if type(v) in _SCALARS else _plain(v)
        return plain
    if isinstance(value, list | tuple):
        return type(value)(v if type(v) in _SCALARS else _plain(v) for v in value)
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else _plain(v) for k, v in value.items()}
    return value


def schema() -> dict[str, Any]:
    return json.loads(_schema_text())  # type: ignore[no-any-return]


@cache
def _schema_text() -> str:
    from importlib import resources

    return resources.files("cipub").joinpath("schemas/manifest-1.schema.json").read_text(encoding="utf-8")


_JSON_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: type(v) is int,  # stricter than JSON Schema (1.0): the full check decides those
    "null": lambda v: v is None,
}


def conforms(value: Any, rule: dict[str, Any]) -> bool:
    """True only when ``value`` surely meets ``rule`` (a subset of JSON Schema 2020-12).

    The shipped schema uses a handful of keywords; this checks those in plain Python, in about 1 ms
    for a manifest of 100 files, where importing jsonschema costs 120-160 ms (issue 12). Any keyword
    it does not know, or any doubt, answers False, and :func:`validate` then asks jsonschema, which
    also words the error. So the schema stays the one definition of a valid manifest.
    """
    for keyword, expected in rule.items():
        if keyword in ("$schema", "$id", "title", "description"):
            continue
        if keyword == "type":
            names = expected if isinstance(expected, list) else [expected]
            if not any(name in _JSON_TYPES and _JSON_TYPES[name](value) for name in names):
                return False
        elif keyword in ("const", "enum"):
            allowed = [expected] if keyword == "const" else expected
            if not any(type(value) is type(a) and value == a for a in allowed):
                return False
        elif keyword == "pattern":
            # a newline is where Python's and ECMA's ``$`` differ: leave such strings to jsonschema
            if not isinstance(value, str) or "\n" in value or re.search(expected, value) is None:
                return False
        elif keyword == "minLength":
            if not isinstance(value, str) or len(value) < expected:
                return False
        elif keyword == "minimum":
            if type(value) is not int or value < expected:
                return False
        elif keyword == "required":
            if not isinstance(value, dict) or any(key not in value for key in expected):
                return False
        elif keyword == "properties":
            if not isinstance(value, dict):
                return False
            if any(key in value and not conforms(value[key], sub) for key, sub in expected.items()):
                return False
        elif keyword == "additionalProperties":
            if not isinstance(value, dict):
                return False
            extra = [key for key in value if key not in rule.get("properties", {})]
            if expected is False and extra:
                return False
            if isinstance(expected, dict) and not all(conforms(value[key], expected) for key in extra):
                return False
            if expected not in (True, False) and not isinstance(expected, dict):
                return False
        elif keyword == "items":
            if not isinstance(value, list) or not all(conforms(item, expected) for item in value):
                return False
        else:
            return False  # a keyword this subset does not know: let jsonschema decide
    return True


def validate(data: Any, *, source: str = "manifest") -> None:
    """Check ``data`` against the shipped schema; UsageError naming the first problem."""
    if not isinstance(data, dict):
        raise UsageError(f"{source}: not a JSON object")
    if data.get("schema") != SCHEMA_VERSION:
        raise UsageError(
            f"{source}: unsupported manifest schema {data.get('schema')!r} (this cipub reads {SCHEMA_VERSION})"
        )
    if conforms(data, _parsed_schema()):
        return
    import jsonschema  # the full check, for the manifests the quick one is not sure of, and the message

    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise UsageError(f"{source}: invalid manifest at {where}: {error.message}")


@cache
def _parsed_schema() -> dict[str, Any]:
    return schema()


def load(path: str | Path) -> Manifest:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        earlier = previous_path(path)
        if earlier.is_file():
            # `cipub build` set the manifest aside when it started: that build failed (or is running).
            raise UsageError(
                f"manifest {path} does not exist: the last `cipub build` into {path.parent} did not finish",
                hint=f"fix and rerun the build; to publish the build before it, pass --manifest {earlier}",
            ) from exc
        raise UsageError(
            f"manifest {path} does not exist",
            hint="run `cipub build` first, or pass --manifest PATH (or package files to `cipub upload`)",
        ) from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a manifest (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    loaded = Manifest.from_dict(data, source=str(path))
    loaded.base_dir = path.parent
    return loaded


def dumps(manifest: Manifest, *, relative_to: Path | None = None) -> str:
    return json.dumps(manifest.to_dict(relative_to=relative_to), indent=2, sort_keys=False) + "\n"


def check_destination(path: str | Path) -> Path:
    """``path`` if a manifest may be written there: absent, or a regular file (not a link).

    The write replaces the file by rename: pointed at ``/dev/stdout`` or a device it would replace
    the node itself (a broken ``/dev/stdout`` for every later CI step) and report success.
    """
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise StorageError(
            f"the manifest path {path} is not a regular file; cipub replaces the manifest as a whole",
            hint="give --manifest a path to a file (use --json to print the manifest on stdout)",
        )
    return path


def previous_path(path: str | Path) -> Path:
    """Where :func:`set_aside` keeps the manifest of the build before the running one."""
    path = Path(path)
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def set_aside(path: str | Path) -> Path | None:
    """Move the manifest at ``path`` to :func:`previous_path`, before a build that will replace it.

    A build that then fails leaves no manifest at ``path``, so a following ``cipub upload`` or
    ``cipub promote --manifest`` refuses instead of publishing the earlier build as this one's. The
    earlier manifest (and its ledger record, and its package files) stay: nothing built is lost.
    """
    path = check_destination(path)
    if not path.exists():
        return None
    moved = previous_path(path)
    path.replace(moved)
    return moved


def write(manifest: Manifest, path: str | Path) -> Path:
    """Write atomically: a crash leaves either the old manifest or the new one, never half."""
    path = check_destination(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = manifest.to_dict(relative_to=path.parent)
    write_atomically(path, json_document(data))
    # From now on relative paths in this object mean what the file says (each path is located once:
    # finding a moved package costs a few stats per file, issue 12).
    located = [manifest.artifact_path(entry) for entry in manifest.artifacts]  # found by to_dict
    for entry, raw in zip(manifest.artifacts, data["artifacts"], strict=True):
        entry.path = raw["path"]
    manifest.base_dir = path.parent
    for entry, where in zip(manifest.artifacts, located, strict=True):
        if where.is_absolute():
            manifest._remember(entry, where)  # the same file, now named relative to the manifest
    return path


def lock_path(path: str | Path) -> Path:
    """The lock file beside a manifest that :func:`write_receipts` holds while it reads and writes."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _receipt_key(record: UploadReceipt | PromotionReceipt | AttestationRecord) -> tuple[Any, ...]:
    return (type(record).__name__, *_plain(record).values())


def write_receipts(manifest: Manifest, path: str | Path) -> Path:
    """Write ``manifest`` after an upload or a promotion without losing another process's receipts.

    Two commands acting on one manifest at once (two uploads of one build) each read it, add their
    receipts and write it: the second write would drop the first's receipts. So the read-merge-write
    runs under an exclusive lock beside the file (``filelock``), and the receipts and attestation
    records the file holds by then and ``manifest`` lacks are kept, in the file's order, before this
    run's own. A file that now describes other artifacts (a new build replaced it meanwhile) or cannot
    be read is not merged with: ``manifest`` is written as before.
    """
    from filelock import FileLock  # imported by a real upload or promotion only (start-up, issue 12)

    path = check_destination(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path(path)):
        try:
            there = load(path) if path.is_file() else None
        except (UsageError, StorageError):
            there = None
        if there is not None and {(e.key, e.sha256) for e in there.artifacts} == {
            (e.key, e.sha256) for e in manifest.artifacts
        }:
            manifest.uploads[:] = _union(there.uploads, manifest.uploads)
            manifest.promotions[:] = _union(there.promotions, manifest.promotions)
            manifest.attestations[:] = _union(there.attestations, manifest.attestations)
        return write(manifest, path)


R = TypeVar("R", UploadReceipt, PromotionReceipt, AttestationRecord)


def _union(there: list[R], ours: list[R]) -> list[R]:
    """``there`` followed by those of ``ours`` it does not hold (records are compared whole)."""
    seen = {_receipt_key(r) for r in there}
    kept = list(there)
    kept.extend(r for r in ours if _receipt_key(r) not in seen)
    return kept


def merge(manifests: list[Manifest]) -> Manifest:
    """Combine per-cell manifests into one (one publish job for a whole matrix).

    Artifacts are keyed by ``subdir/filename``; the same key with two different sha256 is a conflict
    between matrix cells (e.g. a noarch package built twice) and is refused.
    """
    merged = Manifest()
    seen: dict[str, ArtifactEntry] = {}
    for m in manifests:
        for a in m.artifacts:
            prior = seen.get(a.key)
            if prior is None:
                # Each input's relative paths are anchored at its own directory: make them absolute.
                located = replace(a, path=str(m.artifact_path(a).absolute()))
                seen[a.key] = located
                merged.artifacts.append(located)
            elif prior.sha256 != a.sha256:
                raise UsageError(
                    f"cannot merge manifests: {a.key} appears twice with different sha256",
                    hint="two matrix cells built the same file differently; build noarch packages once",
                )
        for b in m.build_numbers:
            if b not in merged.build_numbers:
                merged.build_numbers.append(b)
        merged.uploads.extend(m.uploads)
        merged.promotions.extend(m.promotions)
        for record in m.attestations:
            base = m.base_dir or Path()
            merged.attestations.append(replace(record, document=str((base / record.document).absolute())))
        merged.notes.extend(n for n in m.notes if n not in merged.notes)
        merged.recipe = merged.recipe or m.recipe
        merged.engine = merged.engine or m.engine
        merged.container = merged.container or m.container
    return merged

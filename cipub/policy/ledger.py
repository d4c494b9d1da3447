"""What a project's ledger means: which files are staged, promoted, yanked, and what ``cipub
promote`` acts on when it is given no manifest. Pure functions of the records (and, for status,
the channel's state); the records themselves are :mod:`cipub.core.ledger`.

**The default promotion set** (``cipub promote`` without ``--manifest``), for one target and
``--from``/``--to`` labels:

1. *pending*: every file the ledger records as staged on that target's ``--from`` label (an upload
   receipt: uploaded, skipped-identical or label-added) that the ledger does not record as promoted
   to ``--to`` on that target, nor yanked there; restricted to the recipes or package names given,
   if any. Of several pending builds of one package variant (same name, version, subdir and build
   string apart from its ``_N``), only the newest build number is promoted; the older ones are left
   out and named (``cipub prune`` can remove them from the staging label).
2. if nothing is pending: the files of the ledger's last promotion from ``--from`` to ``--to`` on
   that target (less any yanked since), again (so re-running ``cipub promote`` re-verifies them and changes nothing, and
   ``cipub promote --move`` after ``cipub promote`` finishes the move).
3. if the ledger has neither: nothing, and ``cipub promote`` refuses (exit 2).

Every file left out, and a set drawn from more than one run, is said in a note (printed by
``--dry-run`` and by the real run): a user who expects "the last build" sees that it is more, or
fewer, files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from urllib.parse import unquote, urlsplit

from cipub.core.ledger import Record
from cipub.core.manifest import ArtifactEntry

STAGED_STATES = frozenset({"uploaded", "skipped-identical", "label-added"})
PROMOTED_STATES = frozenset({"promoted", "already-promoted"})
YANKED_STATES = frozenset({"yanked", "already-yanked"})

#: does the user want this file (recipes / names given on the command line)
Wanted = Callable[[ArtifactEntry, Record], bool]


def variant_key(name: str, version: str, subdir: str, build: str) -> tuple[str, str, str, str]:
    """Builds of one package variant differ only in the build number (the ``_N`` suffix)."""
    head, _, tail = build.rpartition("_")
    return (name, version, subdir, head if head and tail.isdigit() else build)


def entry_variant(entry: ArtifactEntry) -> tuple[str, str, str, str]:
    return variant_key(entry.name, entry.version, entry.subdir, entry.build)


@dataclass
class LedgerFacts:
    """What the records say about one target (the receipts carry the target's display form)."""

    #: (key, sha256) -> (entry, the record that staged it last), in staging order
    staged: dict[tuple[str, str], tuple[ArtifactEntry, Record]] = field(default_factory=dict)
    promoted: set[tuple[str, str]] = field(default_factory=set)
    #: promoted to any label, on this target or into another one
    ever_promoted: set[tuple[str, str]] = field(default_factory=set)
    yanked: set[tuple[str, str]] = field(default_factory=set)
    pruned: set[tuple[str, str]] = field(default_factory=set)
    #: every artifact the ledger knows (built or uploaded), by (key, sha256)
    known: dict[tuple[str, str], tuple[ArtifactEntry, Record]] = field(default_factory=dict)
    #: builds whose files were never staged on this target, with why (failed upload, --no-upload)
    never_staged: dict[tuple[str, str], str] = field(default_factory=dict)
    #: files of runs that failed, with the error
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    last_promotion: list[ArtifactEntry] = field(default_factory=list)


class TargetIdentity:
    """Which receipts, actions and records are about one target, whatever spelling they carry.

    Receipts and actions carry the target as the command showed it (its ``--target`` as typed:
    ``./.cipub/channel``, a URL through ``redact_url``); records of this cipub also carry the
    normalised form (``Record.target``, :func:`cipub.channels.target.ledger_target`). Both are
    compared as normalised forms, so ``./ch``, ``./ch/``, ``/abs/ch`` and ``file:///abs/ch`` are one
    target, and ``quetz://HOST/C`` and ``quetz+https://host/C/`` another.

    A *relative* directory in a receipt was relative to the working directory of the command that
    wrote it, which the ledger does not keep. It is taken as follows:

    1. a record that names its target (``Record.target``, an absolute ``file://`` URL resolved when
       the command ran) whose path ends with that relative path: the same directory (the receipts
       of a run carry the spelling its ``Record.target`` was resolved from);
    2. otherwise (a record of older cipub, which named no target): from ``root``, the project root
       (the directory of ``cipub.toml`` / ``pyproject.toml``, from which cipub takes the default
       ``./.cipub/channel``), else the working directory. That is what such a spelling meant: the
       default target, or a ``--target`` typed in the project's directory.
    """

    def __init__(self, target: str, target_id: str | None = None, *, root: Path | None = None) -> None:
        from cipub.channels.target import ledger_target

        self.root = root
        #: the target's normalised form; its spelling itself when it is not a target
        self.id = target_id if target_id is not None else (ledger_target(target) or target)
        self._seen: dict[tuple[str, str | None], str] = {}

    def of(self, spelling: str, record: Record) -> str:
        """The normalised form of ``spelling`` (a receipt's or action's target) in ``record``."""
        key = (spelling, record.target)
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self._identify(spelling, record.target)
        return found

    def _identify(self, spelling: str, acted_on: str | None) -> str:
        from cipub.channels.target import ledger_target

        relative = _relative_directory(spelling)
        if relative and acted_on is not None and acted_on.startswith("file://"):
            path = Path(unquote(urlsplit(acted_on).path))
            if path.parts[-len(relative) :] == relative:
                return acted_on
        return ledger_target(spelling, base=self.root) or spelling

    def names(self, record: Record) -> bool:
        """Whether a receipt or action of ``record`` is on this target."""
        m = record.manifest
        return (
            any(self.of(u.target, record) == self.id for u in m.uploads)
            or any(self.of(p.target, record) == self.id for p in m.promotions)
            or any(self.of(a.target, record) == self.id for a in record.actions)
        )

    def owns(self, record: Record) -> bool:
        """Whether ``record`` is about this target: it acted on it, or wrote a receipt there (a
        promotion from another target into this one).

        A record without a target (written by cipub before records named one) is attributed by its
        receipts alone; one with no receipt either (a build, or a command that failed before writing
        anything) cannot be attributed, and counts for every target, as it always did. That is the
        conservative side: these records only feed ``known``/``failed``/``never_staged`` (notes and
        ``cipub status`` rows, never what is promoted or pruned), and dropping them would hide a failed
        or never-uploaded build from the target it was meant for, where counting them shows at most an
        extra note on another target.
        """
        if self.names(record):
            return True
        if record.target is not None:
            return record.target == self.id
        m = record.manifest
        return not (m.uploads or m.promotions or record.actions)


def _relative_directory(spelling: str) -> tuple[str, ...]:
    """The parts of a relative directory target (``./a/b`` -> ``("a", "b")``, ``..`` and ``.``
    dropped); () for anything else (an absolute path, ``~/x``, a ``file://`` or server URL)."""
    from cipub.channels.target import parse_target
    from cipub.core.errors import UsageError

    if "://" in spelling or spelling.startswith("~"):
        return ()
    try:
        target = parse_target(spelling)
    except UsageError:
        return ()
    path = PurePath(os.path.normpath(target.base))
    if target.kind != "local" or path.is_absolute():
        return ()
    return tuple(part for part in path.parts if part not in (".", ".."))


def facts(
    records: Iterable[Record],
    target: str,
    from_label: str,
    to_label: str,
    *,
    target_id: str | None = None,
    root: Path | None = None,
) -> LedgerFacts:
    """What ``records`` say about ``target`` (in any spelling: see :class:`TargetIdentity`, which
    takes relative spellings of older records from ``root``); ``target_id`` is its normalised form
    (derived from ``target`` when not given)."""
    here = TargetIdentity(target, target_id, root=root)

    def on_here(spelling: str, record: Record) -> bool:
        return here.of(spelling, record) == here.id

    out = LedgerFacts()
    failed = out.failed
    for record in records:
        entries = {(e.key, e.sha256): e for e in record.manifest.artifacts}
        # known/failed (and so never_staged) come from this target's records only; the receipts
        # below are filtered one by one (ever_promoted counts a promotion into any target)
        # a run that failed (or was interrupted) midway did what its receipts say: those files
        # are not its failures
        completed = (
            {(f"{u.subdir}/{u.filename}", u.sha256) for u in record.manifest.uploads if u.state in STAGED_STATES}
            | {(f"{p.subdir}/{p.filename}", p.sha256) for p in record.manifest.promotions if p.state in PROMOTED_STATES}
            if record.outcome == "failed"
            else set()
        )
        for pair, entry in (entries if here.owns(record) else {}).items():
            out.known.setdefault(pair, (entry, record))
            if record.outcome == "failed" and pair not in completed:
                failed.setdefault(pair, f"its {record.command} failed: {record.error or 'no detail'}")
        for u in record.manifest.uploads:
            pair = (f"{u.subdir}/{u.filename}", u.sha256)
            if on_here(u.target, record) and u.label == from_label and u.state in STAGED_STATES and pair in entries:
                out.staged.pop(pair, None)
                out.staged[pair] = (entries[pair], record)
        promoted_here = []
        for p in record.manifest.promotions:
            pair = (f"{p.subdir}/{p.filename}", p.sha256)
            if p.state in PROMOTED_STATES:
                # on any target: a file promoted into another channel (--to-target) is a release too,
                # and prune never removes a file that was ever promoted
                out.ever_promoted.add(pair)
            if on_here(p.target, record) and p.to_label == to_label and p.state in PROMOTED_STATES:
                out.promoted.add(pair)
                if pair in entries and p.from_label == from_label:
                    promoted_here.append(entries[pair])
        if promoted_here and record.outcome == "ok":
            out.last_promotion = list({(e.key, e.sha256): e for e in promoted_here}.values())
        for a in record.actions:
            pair = (a.key, a.sha256 or "")
            if on_here(a.target, record) and a.action == "yank" and a.state in YANKED_STATES:
                out.yanked.add(pair)
            if on_here(a.target, record) and a.action == "prune" and a.state == "pruned":
                out.pruned.add(pair)
    for pair in out.known:
        if pair not in out.staged:
            out.never_staged[pair] = failed.get(pair, "never uploaded to this target's staging label")
    return out


@dataclass(frozen=True)
class PromotionSet:
    """The files ``cipub promote`` acts on without a manifest, and what it says about them."""

    entries: list[ArtifactEntry]
    #: "pending" (staged, not yet promoted), "last-promotion" (nothing pending: the last one again)
    basis: str
    notes: list[str]
    #: how many ledger records the files come from
    runs: int = 0


def promotion_set(
    records: list[Record],
    target: str,
    from_label: str,
    to_label: str,
    wanted: Wanted | None = None,
    *,
    root: Path | None = None,
) -> PromotionSet:
    """The default promotion set (module docstring), with a note for every file left out; ``root``
    as for :func:`facts`."""
    known = facts(records, target, from_label, to_label, root=root)
    want = wanted or (lambda _e, _r: True)
    notes: list[str] = []
    pending: list[tuple[ArtifactEntry, Record]] = []
    not_named: list[str] = []
    for pair, (entry, record) in known.staged.items():
        if pair in known.promoted or pair in known.pruned:
            continue
        if pair in known.yanked:
            notes.append(f"leaving out {entry.key}: it was yanked from this target")
            continue
        if not want(entry, record):
            not_named.append(entry.key)
            continue
        pending.append((entry, record))
    newest: dict[tuple[str, str, str, str], tuple[ArtifactEntry, Record]] = {}
    for entry, record in pending:
        prior = newest.get(entry_variant(entry))
        if prior is None or entry.build_number > prior[0].build_number:
            newest[entry_variant(entry)] = (entry, record)
    chosen = [(e, r) for e, r in pending if newest[entry_variant(e)][0] is e]
    for entry, _record in pending:
        winner = newest[entry_variant(entry)][0]
        if winner is not entry:
            notes.append(
                f"leaving out {entry.key}: superseded by build {winner.build_number} ({winner.filename}), "
                f"also staged; `cipub prune` can remove it from {from_label!r}"
            )
    if not_named:
        notes.append(f"leaving out {len(not_named)} staged file(s) not named: {', '.join(sorted(not_named))}")
    for pair, why in known.never_staged.items():
        entry, record = known.known[pair]
        if pair in known.failed and want(entry, record) and pair not in known.promoted:
            notes.append(f"leaving out {entry.key} (sha256 {entry.sha256[:12]}): {why}")
    if chosen:
        runs = len({id(r) for _e, r in chosen})
        if runs > 1:
            recipes = sorted({r.manifest.recipe or r.command for _e, r in chosen})
            notes.insert(
                0,
                f"acting on {len(chosen)} file(s) staged by {runs} runs ({', '.join(recipes)}), "
                "not only the last build's",
            )
        return PromotionSet([e for e, _r in chosen], "pending", notes, runs)
    last = [
        e
        for e in known.last_promotion
        if want(e, known.known[(e.key, e.sha256)][1]) and (e.key, e.sha256) not in known.yanked
    ]
    if last:
        notes.insert(
            0, f"nothing staged is waiting for promotion: acting on the last promotion's {len(last)} file(s) again"
        )
        return PromotionSet(last, "last-promotion", notes, 1)
    return PromotionSet([], "none", notes, 0)

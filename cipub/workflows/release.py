"""After promotion: ``cipub status``, ``cipub yank`` and ``cipub prune``.

The decisions are :mod:`cipub.policy.status`, :mod:`cipub.policy.yank` and
:mod:`cipub.policy.prune`; this module resolves what the user named (recipes, manifests, package
names, specs), opens the target with the labels these commands read, and records yanks and prunes
in the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.core.errors import UsageError, read_only
from cipub.core.options import Settings
from cipub.workflows.report import SILENT, Reporter, Result, rows

if TYPE_CHECKING:
    from cipub.channels.base import Channel, ChannelFile
    from cipub.core.ledger import LabelAction
    from cipub.policy.ledger import LedgerFacts
    from cipub.policy.status import FileStatus
    from cipub.policy.yank import YankDecision


def open_with_labels(settings: Settings, *labels: str) -> Channel:
    """The target, told to read ``labels`` too (targets that cannot list their label channels)."""
    from cipub.channels import open_channel
    from cipub.channels.base import NAMES
    from cipub.workflows.target import check_label_settings, target_options

    check_label_settings(settings)
    for label in labels:  # --remove-from, --broken-label: the same rule, before any work
        NAMES.check(label)
    options = target_options(settings)
    return open_channel(settings.target, replace(options, labels=tuple(dict.fromkeys((*options.labels, *labels)))))


def _facts(settings: Settings, target: str) -> LedgerFacts:
    from cipub.policy.ledger import facts
    from cipub.workflows.ledger import load_records

    return facts(load_records(settings), target, settings.promote_from, settings.promote_to, root=settings.project_root)


def package_names(selectors: Sequence[str], facts: LedgerFacts, *, ledger: Path, target: str) -> set[str]:
    """Recipes (paths), manifests (``*.json`` files) and package names -> package names; none
    given: every package the ledger (at ``ledger``) knows on ``target``."""
    from cipub.core import manifest as manifest_mod
    from cipub.recipe import load_recipe

    if not selectors:
        names = {entry.name for entry, _record in facts.known.values()}
        if not names:
            raise UsageError(
                f"the ledger ({ledger}) records no package on {target}",
                hint="name a recipe, manifest or package, or pass the --output-dir the build wrote to "
                "(its ledger is OUTPUT_DIR/cipub-ledger)",
            )
        return names
    names = set()
    for s in selectors:
        path = Path(s)
        if path.is_file() and path.suffix == ".json":
            names.update(a.name for a in manifest_mod.load(path).artifacts)
        elif path.exists():
            names.update(o.name for o in load_recipe(path).outputs)
        elif "/" in s or "\\" in s or path.suffix in (".json", ".yaml", ".yml"):
            # a package name has no path separator nor such a suffix: this was meant as a path
            raise UsageError(
                f"{s}: no such recipe or manifest",
                hint="name an existing recipe directory, recipe.yaml, manifest (*.json), or a package name",
            )
        else:
            names.add(s)
    return names


def _files(channel: Channel, names: set[str]) -> list[ChannelFile]:
    with channel:
        return [f for name in sorted(names) for f in channel.files(name)]


@read_only
def status(settings: Settings, selectors: Sequence[str], *, broken: str, report: Reporter = SILENT) -> dict[str, Any]:
    """The ``cipub status`` document; human lines go to ``report``."""
    from cipub.policy.status import file_statuses, status_document
    from cipub.workflows.ledger import ledger_path

    channel = open_with_labels(settings, broken)
    facts = _facts(settings, channel.display)
    names = package_names(selectors, facts, ledger=ledger_path(settings), target=channel.display)
    staging, release = settings.promote_from, settings.promote_to
    from cipub.channels.base import junk_reported

    rows = file_statuses(_files(channel, names), facts, names, staging=staging, release=release, broken=broken)
    _check_known(selectors, names, rows, target=channel.display, ledger=ledger_path(settings), report=report)
    junk = junk_reported(channel)  # passed over as indexing passes over them: never listed as packages
    for r in rows:
        labels = ", ".join(r.labels) or "-"
        ledger = ", ".join(r.ledger) or "not in the ledger"
        if r.ledger_sha256:
            when = "staged" if "staged" in r.ledger_other else "built"
            ledger = (
                f"{', '.join(r.ledger_other) or 'built'} for other bytes (sha256 {r.ledger_sha256[:12]}; the target's "
                f"is {(r.sha256 or '')[:12]}: replaced after cipub {when} it?)"
            )
        cell = f"  cell: {r.cell}" + (f" (job {r.job})" if r.job else "") if r.cell else ""
        report.say(Result(f"{r.status:<15} {r.key}  labels: {labels}  ledger: {ledger}{cell}"))
    for path, reason in sorted(junk.items()):
        report.say(f"{'junk':<15} {path}  skipped: {reason} (not a package; remove it by hand)")
    doc = status_document(
        channel.display,
        rows,
        staging=staging,
        release=release,
        broken=broken,
        ledger=str(ledger_path(settings)),
        junk=junk,
    )
    report.say(Result("summary: " + (", ".join(f"{n} {s}" for s, n in sorted(doc["summary"].items())) or "no files")))
    from cipub.ci import reports

    reports.report_status(doc)
    return doc


def _check_known(
    selectors: Sequence[str],
    names: set[str],
    rows: Sequence[FileStatus],
    *,
    target: str,
    ledger: Path,
    report: Reporter,
) -> None:
    """A package name that neither the target nor the ledger knows is an error (exit 2), as
    ``conda search`` of an unknown package is (and ``cipub yank`` of an unknown spec): a typo must
    not read as "published nowhere". A recipe's or manifest's package with no file yet only gets a
    note: that is the answer to "has this been published?"."""
    found = {r.name for r in rows}
    typed = {s for s in selectors if not Path(s).exists()}  # the others are recipes and manifests
    unknown = sorted(typed - found)
    if unknown:
        raise UsageError(
            f"no package named {', '.join(unknown)} is on {target} (in any label) or in the ledger ({ledger})",
            hint="check the name; `cipub status` with no name lists every package the ledger knows, and "
            "--target names the channel it was published to",
        )
    for name in sorted(names - found - typed):
        report.say(f"note: no file of {name} is on {target} or in the ledger ({ledger}) yet")


@dataclass(frozen=True)
class PlannedFile:
    """One file a yank or prune considered: what it does to it (or keeps), and why."""

    subdir: str
    filename: str
    sha256: str | None
    action: str  # yank | already-yanked | remove | keep
    reason: str


@dataclass(frozen=True)
class LabelRun:
    """What a yank or a prune did (or would do)."""

    actions: list[LabelAction]
    plan: list[PlannedFile] = field(default_factory=list)
    dry_run: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    def document(self, command: str, target: str) -> dict[str, Any]:
        """The ``--json`` document (schema ``cipub/schemas/label-run-1.schema.json``)."""
        from dataclasses import asdict

        summary: dict[str, int] = {}
        for a in self.actions:
            summary[a.state] = summary.get(a.state, 0) + 1
        return {
            "schema": 1,
            "kind": f"cipub-{command}",
            "target": target,
            "dry_run": self.dry_run,
            "labels": dict(self.labels),
            "plan": [asdict(p) for p in self.plan],
            "actions": [asdict(a) for a in self.actions],
            "summary": summary,
        }

    def count(self, state: str) -> int:
        return sum(1 for a in self.actions if a.state == state)


def yank(
    settings: Settings,
    specs: Sequence[str],
    *,
    manifests: Sequence[Path] = (),
    remove_from: str = "main",
    broken: str = "broken",
    dry_run: bool = False,
    report: Reporter = SILENT,
) -> LabelRun:
    """Mark the files of ``manifests`` or matching ``specs`` broken (:mod:`cipub.policy.yank`)."""
    from cipub.core.manifest import Manifest
    from cipub.policy import yank as policy
    from cipub.workflows.ledger import add_record, check_writable, recorded_if_stopped
    from cipub.workflows.target import load_manifests

    if bool(specs) == bool(manifests):
        raise UsageError(
            "name the files to yank: NAME=VERSION[=BUILD] specs, or --manifest PATH (not both)",
            hint="e.g. cipub yank mypkg=1.2.0 (`cipub status mypkg` lists what is published)",
        )
    if not dry_run:
        check_writable(settings)  # the yank is recorded: a ledger that cannot take it changes nothing
    channel = open_with_labels(settings, remove_from, broken)
    with channel:
        if manifests:
            manifest, _path = load_manifests(manifests, settings)
            files = policy.select_by_manifest(channel, manifest.artifacts)
        else:
            files = policy.select_by_specs(channel, [policy.parse_spec(s) for s in specs], remove_from, broken)
        report.say(f"yanking {len(files)} file(s) on {channel.display}: +{broken}, -{remove_from}")
        done: list[LabelAction] = []
        # stopped midway: the files already yanked are recorded
        with nullcontext() if dry_run else recorded_if_stopped(settings, "yank", Manifest(), done):
            actions = policy.yank(
                channel, files, remove_from, broken, dry_run=dry_run, progress=rows(report.say), done=done
            )
    plan = [_yank_plan(policy.decide_yank(f, remove_from, broken), remove_from, broken) for f in files]
    run = LabelRun(actions, plan, dry_run, {"remove_from": remove_from, "broken": broken})
    if not dry_run:
        add_record(settings, "yank", Manifest(), actions=actions)
    if dry_run:
        report.say(Result(f"dry run: would yank {run.count('planned')}, {run.count('already-yanked')} already yanked"))
    else:
        report.say(Result(f"done: {run.count('yanked')} yanked, {run.count('already-yanked')} already yanked"))
    from cipub.ci import reports

    reports.report_label_actions("yank", actions, channel.display)
    return run


def prune(
    settings: Settings,
    selectors: Sequence[str],
    *,
    superseded: bool,
    older_than: int | None,
    apply: bool,
    include_newest: bool = False,
    report: Reporter = SILENT,
) -> LabelRun:
    """Remove old staged builds from the staging label (``settings.label``), by the rules given."""
    from cipub.core.manifest import Manifest
    from cipub.policy import prune as policy
    from cipub.workflows.ledger import add_record, check_writable, ledger_path, recorded_if_stopped

    if not superseded and older_than is None:
        raise UsageError(
            "give a retention rule: --superseded and/or --older-than DAYS",
            hint="e.g. cipub prune --superseded --older-than 30 (it only says what it would remove until given --yes)",
        )
    staging = settings.label
    channel = open_with_labels(settings, staging)
    facts = _facts(settings, channel.display)
    names = package_names(selectors, facts, ledger=ledger_path(settings), target=channel.display)
    files = _files(channel, names)
    decisions = policy.decide_prune(
        files,
        facts,
        staging,
        superseded=superseded,
        older_than_days=older_than,
        now=datetime.now(timezone.utc),
        include_newest=include_newest,
    )
    if not apply:
        report.say("dry run (the default): nothing is removed until --yes")
    elif any(d.action == "remove" for d in decisions):
        check_writable(settings)  # the removals are recorded: a ledger that cannot take them removes nothing
    done: list[LabelAction] = []
    # stopped midway: the files already pruned are recorded
    with recorded_if_stopped(settings, "prune", Manifest(), done) if apply else nullcontext():
        actions = policy.prune(channel, decisions, staging, apply=apply, progress=rows(report.say), done=done)
    plan = [
        PlannedFile(d.file.subdir, d.file.filename, d.file.sha256_in(staging), d.action, d.reason) for d in decisions
    ]
    run = LabelRun(actions, plan, not apply, {"staging": staging})
    if apply and actions:
        add_record(settings, "prune", Manifest(), actions=actions)
    kept = sum(1 for d in decisions if d.action == "keep")
    verb = "removed" if apply else "would remove"
    report.say(Result(f"done: {verb} {len(actions)}, kept {kept}"))
    from cipub.ci import reports

    reports.report_label_actions("prune", actions, channel.display)
    return run


def _yank_plan(decision: YankDecision, remove_from: str, broken: str) -> PlannedFile:
    f = decision.file
    sha = f.sha256_in(remove_from) or f.sha256_in(broken) or f.sha256
    if decision.action == "already":
        return PlannedFile(f.subdir, f.filename, sha, "already-yanked", f"already in {broken}, not in {remove_from}")
    return PlannedFile(f.subdir, f.filename, sha, "yank", f"+{broken}, -{remove_from} (the file is kept)")

"""Upload policy, the same on every target (design principle 1, "never force").

For each artifact of the manifest, against the channel's state across all labels:
- absent                      -> upload it with the label;
- present, same sha256        -> skip; add the label if the file does not carry it yet (copied
                                 from a label whose copy has that sha256: ``copy_source``);
- present, different sha256   -> conflict (exit 6), whichever label holds the other bytes.
Every conflict is found *before* anything is written, so a conflicting batch leaves the channel
untouched. After writing, the channel is read again: each file must carry the label with the
manifest's sha256, or the command fails with exit 8.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from cipub.channels.base import Channel, ChannelFile, find_file, listing_left_out, when_published
from cipub.core.artifact import PACKAGE_EXTENSIONS, Artifact, package_extension, read_artifact
from cipub.core.errors import CipubError, ConflictError, VerificationError
from cipub.core.manifest import ArtifactEntry, Manifest, UploadReceipt

Progress = Callable[[str], None]


@dataclass(frozen=True)
class UploadAction:
    entry: ArtifactEntry
    action: str  # "upload" | "add-label" | "skip" | "conflict"
    existing: ChannelFile | None
    detail: str = ""
    #: for "add-label": the label whose copy is copied (None: the file carries no label)
    source_label: str | None = None


def copy_source(file: ChannelFile, sha256: str) -> str | None:
    """The label to copy ``file`` from so the copy is exactly ``sha256``: the first such label by
    name (promotion does not choose: it copies from --from); None when no copy is."""
    return next((label for label in sorted(file.labels) if file.sha256_in(label) == sha256), None)


def decide_upload(entry: ArtifactEntry, existing: ChannelFile | None, label: str) -> UploadAction:
    """What uploading ``entry`` to ``label`` must do, given the file of that name on the channel."""
    if existing is None:
        return UploadAction(entry, "upload", None)
    # a file on a native-label server may carry no label at all: its one copy still counts
    copies = dict(existing.label_sha256) or dict.fromkeys(existing.labels or ["no label"], existing.sha256)
    differing = sorted(lab for lab, sha in copies.items() if sha != entry.sha256)
    if differing:
        there = ", ".join(sorted({(copies[lab] or "unknown")[:12] for lab in differing}))
        detail = (
            f"{entry.key} exists on the channel (label {', '.join(differing)}) with different content "
            f"(sha256 {there} there, {entry.sha256[:12]} here)"
        )
        return UploadAction(entry, "conflict", existing, detail)
    if label in existing.labels:
        return UploadAction(entry, "skip", existing)
    return UploadAction(entry, "add-label", existing, source_label=copy_source(existing, entry.sha256))


def channel_state(channel: Channel, entries: list[ArtifactEntry]) -> dict[str, list[ChannelFile]]:
    """One state query per (name, version), not per file; queries run in parallel where the channel
    allows it (on a WAN, round trips — not bytes — dominate a batch of small packages)."""
    keys = list(dict.fromkeys((e.name, e.version) for e in entries))
    workers = max(1, min(channel.max_parallel, len(keys)))
    if workers == 1:
        results = [channel.files(name, version) for name, version in keys]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cipub-state") as pool:
            results = list(pool.map(lambda key: channel.files(*key), keys))
    by_key: dict[str, list[ChannelFile]] = defaultdict(list)
    for files in results:
        for f in files:
            by_key[f.key].append(f)
    return by_key


def _stem(filename: str) -> str:
    ext = package_extension(filename)
    return filename[: -len(ext)] if ext else filename


def batch_entries(entries: list[ArtifactEntry]) -> list[ArtifactEntry]:
    """The batch without repeats; refuse (exit 6, before anything is written) a batch that names one
    file twice with different content, two files whose names differ only in case, or both formats
    (``.conda`` and ``.tar.bz2``) of one package: every target would publish one of them under the
    other's name, or clients would pick either."""
    unique: dict[str, ArtifactEntry] = {}
    folded: dict[str, ArtifactEntry] = {}
    stems: dict[tuple[str, str], ArtifactEntry] = {}
    problems: list[str] = []
    for e in entries:
        prior = unique.get(e.key)
        if prior is not None:
            if prior.sha256 != e.sha256:
                problems.append(f"{e.key} appears twice with different content ({prior.path} and {e.path})")
            continue
        unique[e.key] = e
        other = folded.setdefault(e.key.casefold(), e)
        if other is not e:
            problems.append(f"{other.key} and {e.key} differ only in case")
            continue
        other = stems.setdefault((e.subdir, _stem(e.filename).casefold()), e)
        if other is not e:
            problems.append(f"{other.key} and {e.key} are two formats of one package")
    if problems:
        raise ConflictError(
            "this batch is not one file per name: " + "; ".join(problems) + " — nothing was written",
            hint="publish each package once, in one format (build each noarch package in one matrix cell)",
        )
    return list(unique.values())


def _other_format(entry: ArtifactEntry, state: dict[str, list[ChannelFile]]) -> ChannelFile | None:
    stem = _stem(entry.filename)
    for ext in PACKAGE_EXTENSIONS:
        if not entry.filename.endswith(ext):
            found = find_file(state.get(f"{entry.subdir}/{stem}{ext}", []), entry.subdir, f"{stem}{ext}")
            if found is not None:
                return found
    return None


def plan_upload(channel: Channel, manifest: Manifest, label: str) -> list[UploadAction]:
    entries = batch_entries(manifest.artifacts)
    state = channel_state(channel, entries)
    # A listing that may come from a cache is not trusted to say a name is free: each name about to
    # be written (and its other format's) is looked up exactly; one it left out is listed again.
    unlisted = [
        e
        for e in entries
        if e.key not in state
        and any([listing_left_out(channel, e.subdir, f"{_stem(e.filename)}{ext}") for ext in PACKAGE_EXTENSIONS])
    ]
    if unlisted:
        state.update(channel_state(channel, unlisted))
    actions = []
    for e in entries:
        other = _other_format(e, state)
        if other is not None:
            detail = f"{e.key} is already on the channel as {other.filename} (one package, two formats)"
            actions.append(UploadAction(e, "conflict", other, detail))
            continue
        actions.append(decide_upload(e, find_file(state.get(e.key, []), e.subdir, e.filename), label))
    return actions


def _checked_artifact(manifest: Manifest, entry: ArtifactEntry, *, checked_here: bool = False) -> Artifact:
    """Re-read the file: it must still be whole and be the one the manifest describes (a manifest
    edited by hand — another name, subdir or sha256 — is caught here, before anything is written).

    ``checked_here``: this process checked the file in full and wrote the entry (``cipub build``
    uploading what it built): when its size and sha256 still match, only info/ is read again
    (issue 12). A manifest read from disk proves nothing about the file, so it is checked in full.
    """
    if checked_here:
        artifact = read_artifact(manifest.artifact_path(entry), checked_sha256=entry.sha256, checked_size=entry.size)
    else:
        artifact = read_artifact(manifest.artifact_path(entry))
    if artifact.sha256 != entry.sha256 or artifact.size != entry.size:
        what, claimed, actual = (
            ("sha256", entry.sha256[:16], artifact.sha256[:16])
            if artifact.sha256 != entry.sha256
            else ("size", entry.size, artifact.size)
        )
        raise VerificationError(
            f"the manifest does not describe {entry.path}: its {what} is {claimed}, the file's {actual} "
            "(the file changed since the manifest was written, or the manifest was edited)",
            hint="rebuild, or upload the file that was built",
        )
    differ = [
        f"{what} {claimed!r} (the file says {actual!r})"
        for what, claimed, actual in (
            ("filename", entry.filename, artifact.filename),
            ("subdir", entry.subdir, artifact.subdir),
            ("name", entry.name, artifact.name),
            ("version", entry.version, artifact.version),
            ("build", entry.build, artifact.build),
            ("build_number", entry.build_number, artifact.build_number),
        )
        if claimed != actual
    ]
    if differ:
        raise VerificationError(
            f"the manifest's entry for {entry.path} does not describe that file: " + ", ".join(differ),
            hint="the manifest was edited by hand; rebuild to get a true one",
        )
    return artifact


def _local_file(manifest: Manifest, entry: ArtifactEntry) -> bool:
    """Is the package file of ``entry`` on this machine (a promote-only manifest may have none)?"""
    return manifest.artifact_path(entry).is_file()


def now_carries(channel: Channel, entry: ArtifactEntry, label: str) -> bool:
    """True when the channel already holds exactly ``entry`` in ``label``: what a write that lost a
    race against an identical command finds (a byte-identical file is never a conflict)."""
    state = channel_state(channel, [entry])
    found = find_file(state.get(entry.key, []), entry.subdir, entry.filename)
    return found is not None and label in found.labels and found.sha256_in(label) == entry.sha256


def upload(
    manifest: Manifest,
    channel: Channel,
    label: str,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    checked_here: bool = False,
) -> list[UploadReceipt]:
    """Apply the policy; return one receipt per artifact (also appended to ``manifest.uploads``)."""
    say = progress or (lambda _msg: None)
    finished: dict[str, UploadReceipt] = {}  # by file, as each is published
    order: dict[str, int] = {}
    # Stopped midway (an error, Ctrl-C; also while the channel's index is written on the way out):
    # the files already published keep their receipts. Entered before the channel, left after it.
    with (
        receipts_kept(
            manifest.uploads, lambda: sorted(finished.values(), key=lambda r: order[f"{r.subdir}/{r.filename}"])
        ),
        channel,
    ):
        actions = plan_upload(channel, manifest, label)
        order.update((a.entry.key, i) for i, a in enumerate(actions))
        # Check every file before the first write, so a damaged file stops the batch untouched; and
        # before a conflict or a skip is decided on the manifest's word: an entry whose sha256 or
        # size is not the file's is a manifest that does not describe the file (exit 8), not a
        # conflict with the channel, and never an identical file to skip.
        artifacts = {
            a.entry.key: _checked_artifact(manifest, a.entry, checked_here=checked_here)
            for a in actions
            if (a.action == "upload" and not dry_run) or _local_file(manifest, a.entry)
        }
        conflicts = [a for a in actions if a.action == "conflict"]
        if conflicts:
            raise ConflictError(
                "; ".join(a.detail for a in conflicts) + " — nothing was uploaded",
                hint="cipub never overwrites: rebuild with a new build number (the default bumps from the channel)",
            )
        if dry_run:
            receipts = []
            for a in actions:
                # an identical file already in the label is not "planned" work: say what it is
                state = "skipped-identical" if a.action == "skip" else "planned"
                say(f"would {a.action:<9} {a.entry.key} -> {label}")
                receipts.append(_receipt(a.entry, channel, label, state, a.action))
            return receipts

        def run(action: UploadAction) -> UploadReceipt:
            try:
                entry = action.entry
                if action.action == "upload":
                    done = channel.upload(artifacts[entry.key], label)
                    if done == "skipped-identical":
                        # planned as absent, found there under the lock or by the server's answer:
                        # another run wrote these bytes first, and this one must not claim them
                        say(f"skipped   {entry.key} (identical, written meanwhile by another run)")
                        return _receipt(entry, channel, label, "skipped-identical")
                    if done == "label-added":
                        line = f"labelled  {entry.key} +{label} (identical file written meanwhile by another run)"
                    else:
                        line = f"uploaded  {entry.key} -> {label}"
                    when_published(channel, entry.subdir, entry.filename, functools.partial(say, line))
                    return _receipt(entry, channel, label, done)
                if action.action == "add-label":
                    assert action.existing is not None
                    if not channel.add_label(action.existing, label, source_label=action.source_label):
                        say(f"skipped   {entry.key} (identical, labelled meanwhile by another run)")
                        return _receipt(entry, channel, label, "skipped-identical")
                    line = f"labelled  {entry.key} +{label} (identical file already there)"
                    when_published(channel, entry.subdir, entry.filename, functools.partial(say, line))
                    return _receipt(entry, channel, label, "label-added")
            except (ConflictError, VerificationError):
                # Another process may have written the very same file meanwhile: that is success.
                if not now_carries(channel, action.entry, label):
                    raise
                say(f"skipped   {action.entry.key} (identical, written meanwhile by another run)")
                return _receipt(action.entry, channel, label, "skipped-identical")
            say(f"skipped   {action.entry.key} (identical, already in {label})")
            return _receipt(action.entry, channel, label, "skipped-identical")

        def run_and_keep(action: UploadAction) -> UploadReceipt:
            receipt = run(action)
            # kept once the file is on the channel under its name (a local channel links its
            # copies later, in order; one never linked gets no receipt)
            entry = action.entry
            when_published(
                channel, entry.subdir, entry.filename, functools.partial(finished.__setitem__, entry.key, receipt)
            )
            return receipt

        workers = max(1, min(channel.max_parallel, len(actions)))
        if workers == 1:
            receipts = [run_and_keep(a) for a in actions]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cipub-upload") as pool:
                receipts = list(pool.map(_stop_after_first_failure(run_and_keep), actions))
        try:
            verify_labels(channel, [a.entry for a in actions], label)
        except CipubError:
            finished.clear()  # the label does not hold them as it should: no receipt is kept
            raise
    manifest.uploads.extend(receipts)
    return receipts


_R = TypeVar("_R")


@contextmanager
def receipts_kept(into: list[_R], finished: Callable[[], Iterable[_R]]) -> Iterator[None]:
    """Run the block that publishes; when it stops early (an error, or SIGINT/SIGTERM raised in it),
    add to ``into`` (the manifest's receipts) those of the work ``finished`` says was completed,
    then let the exception go on. The ledger's record of the stopped run then says what it did
    publish (:func:`cipub.workflows.ledger.recorded`), so ``cipub status`` and ``cipub promote`` see
    those files before the run is repeated. Entered before the channel (``with receipts_kept(...),
    channel:``) it also covers the channel's exit (a local channel writes its index then), and runs
    after the block's worker threads have ended (an executor's ``with`` waits for them), so a file
    a worker finished after the interrupt is counted too. A block whose verification fails clears
    what ``finished`` returns (the channel does not hold the files as it should). A block that
    completes adds nothing: its caller adds every receipt."""
    try:
        yield
    except BaseException:
        into.extend(finished())
        raise


class _NotStarted(Exception):
    """A file left alone because another file of the batch failed or was interrupted first."""


def _stop_after_first_failure(run: Callable[[UploadAction], UploadReceipt]) -> Callable[[UploadAction], UploadReceipt]:
    """``run``, except that once one call raises (an error, or Ctrl-C arriving in a worker), no
    worker starts another file. Executor.map cancels only what is still queued when the caller
    sees the failure, which on a loaded machine can be several files later."""
    stop = threading.Event()

    def guarded(action: UploadAction) -> UploadReceipt:
        if stop.is_set():
            raise _NotStarted(action.entry.key)
        try:
            return run(action)
        except BaseException:
            stop.set()
            raise

    return guarded


def verify_labels(channel: Channel, entries: list[ArtifactEntry], label: str, *, absent: bool = False) -> None:
    """Read the channel back: each entry carries ``label`` with the manifest's sha256 (or, with
    ``absent``, no longer carries it)."""
    state = channel_state(channel, entries)
    problems = []
    for e in entries:
        f = find_file(state.get(e.key, []), e.subdir, e.filename)
        if absent:
            if f is not None and label in f.labels:
                problems.append(f"{e.key} still carries label {label!r}")
            continue
        if f is None or label not in f.labels:
            problems.append(f"{e.key} is not in label {label!r}")
        elif f.sha256_in(label) != e.sha256:
            problems.append(f"{e.key} in label {label!r} has sha256 {f.sha256_in(label)}, expected {e.sha256}")
    if problems:
        raise VerificationError(
            f"{channel.display}: " + "; ".join(problems),
            hint="re-run the same command: finished files are skipped",
        )


def _receipt(
    entry: ArtifactEntry, channel: Channel, label: str, state: str, message: str | None = None
) -> UploadReceipt:
    return UploadReceipt(entry.filename, entry.subdir, entry.sha256, channel.display, label, state, message=message)  # type: ignore[arg-type]

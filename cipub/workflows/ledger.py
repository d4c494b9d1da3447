"""Recording each command run in the project's ledger (:mod:`cipub.core.ledger`), and reading it.

The ledger lives in ``<output-dir>/cipub-ledger`` (derived from the output directory setting, so
it follows ``--output-dir`` / ``CIPUB_OUTPUT_DIR``). Writing a record never touches another one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cipub.core.errors import CipubError, StorageError
from cipub.core.options import Settings

if TYPE_CHECKING:
    from cipub.core.ledger import Command, LabelAction, Record
    from cipub.core.manifest import ArtifactEntry, Manifest
    from cipub.policy.ledger import Wanted


def ledger_path(settings: Settings) -> Path:
    from cipub.core.ledger import ledger_dir

    return ledger_dir(settings.output_dir)


def add_record(
    settings: Settings,
    command: Command,
    manifest: Manifest,
    *,
    error: CipubError | str | None = None,
    actions: Sequence[LabelAction] = (),
) -> Path:
    """Write one record of ``command`` (a snapshot of ``manifest`` as it is now), naming the
    ``--target`` it acted on (normalised: never a secret); ``error`` makes it a failed run's."""
    from cipub.channels.target import ledger_target
    from cipub.core import ledger

    # No copy: the record is serialised at once (the snapshot is the file) and not kept; a deep copy
    # of a 1,000-file manifest cost more than writing it (issue 12).
    record = ledger.Record(
        command=command,
        manifest=manifest,
        outcome="failed" if error is not None else "ok",
        error=error.message if isinstance(error, CipubError) else error,
        actions=list(actions),
        target=ledger_target(settings.target),
    )
    return ledger.write(record, ledger_path(settings))


@contextmanager
def recorded(settings: Settings, command: Command, manifest: Manifest) -> Iterator[None]:
    """Record the run of the block: ``ok`` with the manifest's receipts, or ``failed`` with the
    error (and re-raise it); a block stopped midway as :func:`recorded_if_stopped` says."""
    check_writable(settings)  # before the block changes a channel, not after
    with recorded_if_stopped(settings, command, manifest):
        yield
    add_record(settings, command, manifest)


@contextmanager
def recorded_if_stopped(
    settings: Settings, command: Command, manifest: Manifest, actions: Sequence[LabelAction] | None = None
) -> Iterator[None]:
    """When the block raises, record the run as ``failed`` (and re-raise): for an upload or a
    promotion (``actions`` None) always, with the receipts the manifest holds by then; for a yank
    or a prune (``actions``, filled as each file is done) only when it changed a file.

    A run stopped by SIGINT/SIGTERM (or by anything else that is not a cipub error) is recorded
    too, with an error that starts ``interrupted by SIGINT`` (the schema's place for why a run
    failed: no new field, so older cipub reads the record), holding the receipts of the files it
    did publish (:func:`cipub.policy.publish.receipts_kept`): those count as staged or promoted at
    once. Writing that record never replaces the interrupt (the exit stays 130/143): a record that
    cannot be written is a warning. A kill (SIGKILL, a crash) records nothing; earlier records stay."""
    before = len(manifest.uploads) + len(manifest.promotions)
    try:
        yield
    except BaseException as exc:
        if actions is None:
            done = len(manifest.uploads) + len(manifest.promotions) - before
        else:
            done = sum(1 for a in actions if a.state in ("yanked", "pruned"))
            if not done:
                raise
        error: CipubError | str = exc if isinstance(exc, CipubError) else _stopped(exc, command, done)
        try:
            add_record(settings, command, manifest, error=error, actions=actions or ())
        except (OSError, CipubError) as failure:
            if isinstance(exc, CipubError):
                raise
            import logging

            logging.getLogger("cipub.workflows.ledger").warning(
                "the %s was stopped and its record could not be written: %s", command, failure
            )
        raise


def _stopped(exc: BaseException, command: Command, done: int) -> str:
    """Why a run that raised no cipub error stopped, as its record says it."""
    import signal

    signum = getattr(exc, "signum", signal.SIGINT if isinstance(exc, KeyboardInterrupt) else None)
    if isinstance(signum, int):
        why = f"interrupted by {signal.Signals(signum).name}"
    elif isinstance(exc, Exception):
        why = f"stopped by an internal error ({type(exc).__name__})"
    else:
        why = f"stopped ({type(exc).__name__})"
    return f"{why} after {done} file(s) of the {command} were done (they are recorded here); re-run it to finish"


def check_writable(settings: Settings) -> None:
    """Make the ledger directory, or refuse (exit 10) a place it cannot be written.

    Every command that changes a channel (upload, promote, yank, prune) calls this before its first
    change: a ledger that cannot take the record would otherwise leave the channel changed and the
    history without it (the change done, exit 10, nothing recorded)."""
    import os

    ledger = ledger_path(settings)
    try:
        ledger.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"the ledger directory {ledger} cannot be made ({exc.strerror or exc}); nothing was changed",
            hint="point --output-dir at a writable directory",
        ) from None
    if not os.access(ledger, os.W_OK | os.X_OK):
        raise StorageError(
            f"the ledger directory {ledger} is not writable; nothing was changed",
            hint="point --output-dir at a writable directory",
        )


def load_records(settings: Settings) -> list[Record]:
    from cipub.core import ledger

    return ledger.load(ledger_path(settings))


def wanted_by(selectors: Sequence[str]) -> Wanted | None:
    """Files of the recipes (paths) or package names given; None: everything."""
    if not selectors:
        return None
    names = set(selectors)
    paths = {Path(s).resolve() for s in selectors if Path(s).exists()}

    def wanted(entry: ArtifactEntry, record: Record) -> bool:
        if entry.name in names:
            return True
        recipe = record.manifest.recipe
        if recipe is None:
            return False
        absolute = Path(recipe).resolve()
        # a recipe file or its directory
        return absolute in paths or absolute.parent in paths

    return wanted

"""``cipub status``, ``cipub yank`` and ``cipub prune``: after promotion. The work is
:mod:`cipub.workflows.release`."""

from __future__ import annotations

from pathlib import Path

import typer

from cipub.cli._app import TARGET_ACCESS, app, command
from cipub.cli._options import option

STATUS_HELP = """Where each file of some packages is: which labels of the target hold it, which are
staged but not promoted, which are only in the ledger.

Name recipes (paths), manifests (*.json) or package names; none: every package in the ledger.
A recipe or manifest stands for its package names: every file of those packages is shown (--json:
with the sha256 the target holds); `cipub promote --manifest M --dry-run` checks a manifest's own
files by sha256.
--json prints one document (schema cipub/schemas/status-1.schema.json).

A package name that neither the target nor the ledger knows is exit 2 (as `conda search` fails on
an unknown package): a typo never reads as "published nowhere". A recipe or manifest whose packages
have no file yet is exit 0, with a note.

Examples:

    cipub status recipe/

    cipub status mypkg --target https://anaconda.org/me --json
"""

YANK_HELP = """Mark files broken: add the broken label, take them off main (or --remove-from LABEL).
The files are never deleted: pinned environments still resolve them from label broken.

Name the files by spec NAME=VERSION[=BUILD] (BUILD may be a glob) or file name, or by --manifest.
Idempotent; --dry-run prints what it would do. Label-less servers (Quetz, prefix.dev, Artifactory)
keep label broken as the channel CHANNEL-broken.

Examples:

    cipub yank mypkg=1.2.0 --dry-run

    cipub yank 'mypkg=1.2.0=*_3' --target quetz+https://quetz.example.org/mychan
"""

PRUNE_HELP = """Remove old staged builds from the staging label (--label, default test).

Only files that carry no other label and that this project's ledger staged and never promoted,
picked by a rule: --superseded (a newer build number of the same variant is on the target) and/or
--older-than DAYS. The newest build of each variant is kept (--include-newest: it may go too).
Prints what it removes and what it keeps, and why; removes only with --yes.

Examples:

    cipub prune --superseded                # dry run: what would go

    cipub prune mypkg --superseded --older-than 30 --yes
"""

STATUS_JSON_HELP = "Print one JSON document (schema status-1) on stdout, and no table."
LABEL_RUN_JSON_HELP = "Print one JSON document (schema label-run-1: plan and actions) on stdout, and no summary."


@command(
    app,
    "status",
    help=STATUS_HELP,
    settings=(
        "target",
        "promote_from",
        "promote_to",
        *TARGET_ACCESS,
        "output_dir",
        "config",
    ),
)
def status_command(
    ctx: typer.Context,
    selectors: list[str] = typer.Argument(None, metavar="[RECIPES_MANIFESTS_OR_NAMES]..."),
    broken_label: str = option("broken_label"),
    as_json: bool = option("as_json", help=STATUS_JSON_HELP),
) -> None:
    from cipub.cli._common import settings_and_output
    from cipub.workflows.release import status

    settings, out = settings_and_output(ctx, as_json)
    out.document(status(settings, selectors or [], broken=broken_label, report=out))


@command(
    app,
    "yank",
    help=YANK_HELP,
    settings=(
        "target",
        *TARGET_ACCESS,
        "output_dir",
        "config",
    ),
)
def yank_command(
    ctx: typer.Context,
    specs: list[str] = typer.Argument(None, metavar="[SPECS]..."),
    manifests: list[Path] = option("manifests"),
    remove_from: str = option("remove_from"),
    broken_label: str = option("broken_label"),
    dry_run: bool = option("dry_run"),
    as_json: bool = option("as_json", help=LABEL_RUN_JSON_HELP),
) -> None:
    from cipub.cli._common import settings_and_output
    from cipub.workflows.release import yank

    settings, out = settings_and_output(ctx, as_json)
    run = yank(
        settings,
        specs or [],
        manifests=manifests,
        remove_from=remove_from,
        broken=broken_label,
        dry_run=dry_run,
        report=out,
    )
    out.document(run.document("yank", settings.target))


@command(
    app,
    "prune",
    help=PRUNE_HELP,
    settings=(
        "target",
        "label",
        *TARGET_ACCESS,
        "output_dir",
        "config",
    ),
)
def prune_command(
    ctx: typer.Context,
    selectors: list[str] = typer.Argument(None, metavar="[RECIPES_MANIFESTS_OR_NAMES]..."),
    superseded: bool = option("superseded"),
    older_than: int | None = option("older_than"),
    include_newest: bool = option("include_newest"),
    yes: bool = option("yes"),
    as_json: bool = option("as_json", help=LABEL_RUN_JSON_HELP),
) -> None:
    from cipub.cli._common import settings_and_output
    from cipub.workflows.release import prune

    settings, out = settings_and_output(ctx, as_json)
    run = prune(
        settings,
        selectors or [],
        superseded=superseded,
        older_than=older_than,
        include_newest=include_newest,
        apply=yes,
        report=out,
    )
    out.document(run.document("prune", settings.target))

"""``cipub upload`` and ``cipub promote``: act on a manifest, never on "whatever is in the label".

The work is :mod:`cipub.workflows.publish`; settings among the parameters (target, label ...)
reach it through ``settings_and_output(ctx, ...)``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cipub.cli._app import ATTEST_SETTINGS, REQUIRE_ATTESTATION, TARGET_ACCESS, app, command
from cipub.cli._options import option

UPLOAD_HELP = """Upload built packages to a label of a channel (default label: test).

Each file is checked first: absent -> uploaded; already there with the same sha256 -> skipped
(and given the label if it lacks it); there with different content -> conflict, exit 6, and
nothing is uploaded. Never deletes or overwrites.

Examples:

    cipub upload                                   # output/cipub-manifest.json -> ./.cipub/channel, label test

    ANACONDA_API_TOKEN=... cipub upload --target https://anaconda.org/me --label test

    cipub upload --manifest cell1.json --manifest cell2.json   # merge matrix cells, one upload

    cipub upload output/noarch/foo-1.0-py_0.conda --dry-run
"""

PROMOTE_HELP = """Promote exactly the ledger's (or a manifest's) files from one label to another (test -> main).

Without --manifest: every file this project's ledger (<output-dir>/cipub-ledger) staged on the
target's --from label and has not promoted yet (the newest build of each package variant; only the
RECIPES_OR_NAMES given, if any); if none is waiting, the last promotion again. Notes say what is
left out. The files must be on the channel with the sha256 the build recorded; afterwards each one
is read back from the target label and checked. Other files in the source label are never touched.
--move also removes the source label, only after the target is verified. Idempotent.

Examples:

    cipub build a/ && cipub build b/ && cipub promote   # promotes a's and b's files

    cipub promote --target quetz+https://quetz.example.org/mychan --from rc --to main --move

    CIPUB_TO_TOKEN=... cipub promote --target https://anaconda.org/me-staging --to-target https://anaconda.org/me

    cipub build recipe/ && cipub promote           # the whole local loop, zero configuration
"""


@command(
    app,
    "upload",
    help=UPLOAD_HELP,
    settings=(
        "target",
        "label",
        *TARGET_ACCESS,
        "output_dir",
        "concurrency",
        "config",
        *ATTEST_SETTINGS,
    ),
)
def upload_command(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(None, metavar="FILES", help="Package files (instead of a manifest)."),
    manifests: list[Path] = option("manifests"),
    dry_run: bool = option("dry_run"),
    as_json: bool = option("as_json"),
) -> None:
    from cipub.cli._common import settings_and_output
    from cipub.workflows.publish import upload

    settings, out = settings_and_output(ctx, as_json)
    result = upload(settings, files=files or [], manifests=manifests, dry_run=dry_run, report=out)
    out.document(result.document())


@command(
    app,
    "promote",
    help=PROMOTE_HELP,
    settings=(
        "target",
        "promote_from",
        "promote_to",
        "to_target",
        "to_token_file",
        *TARGET_ACCESS,
        "output_dir",
        "concurrency",
        "config",
        *REQUIRE_ATTESTATION,
        *(s for s in ATTEST_SETTINGS if s not in REQUIRE_ATTESTATION),
    ),
)
def promote_command(
    ctx: typer.Context,
    selectors: list[str] = typer.Argument(
        None, metavar="[RECIPES_OR_NAMES]...", help="Only these recipes / package names (ledger set)."
    ),
    manifests: list[Path] = option("manifests"),
    move: bool = option("move"),
    dry_run: bool = option("dry_run"),
    as_json: bool = option("as_json"),
) -> None:
    from cipub.cli._common import settings_and_output
    from cipub.workflows.publish import promote

    settings, out = settings_and_output(ctx, as_json)
    result = promote(settings, manifests=manifests, selectors=selectors or [], move=move, dry_run=dry_run, report=out)
    out.document(result.document())

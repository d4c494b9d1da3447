"""``cipub upload`` and ``cipub promote``: act on a manifest, never on "whatever is in the label".

The work is :mod:`cipub.workflows.publish`; settings among the parameters (target, label ...)
reach it through ``settings_from(ctx)``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cipub.cli._app import app, command, settings_from
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

PROMOTE_HELP = """Promote exactly the manifest's files from one label to another (default test -> main).

The files must be on the channel with the sha256 the build recorded; afterwards each one is read
back from the target label and checked. Other files in the source label are never touched.
--move also removes the source label, only after the target is verified. Idempotent.

Examples:

    cipub promote                                  # output/cipub-manifest.json, test -> main

    cipub promote --target quetz+https://quetz.example.org/mychan --from rc --to main --move

    cipub build recipe/ && cipub promote           # the whole local loop, zero configuration
"""


@command(app, "upload", help=UPLOAD_HELP)
def upload_command(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(None, metavar="FILES", help="Package files (instead of a manifest)."),
    manifests: list[Path] = option("manifests"),
    target: str | None = option("target"),
    label: str | None = option("label"),
    dry_run: bool = option("dry_run"),
    as_json: bool = option("as_json"),
    token_file: Path | None = option("token_file"),
    api_url: str | None = option("api_url"),
    concurrency: int | None = option("concurrency"),
    config: Path | None = option("config"),
) -> None:
    from cipub.cli._common import Output
    from cipub.workflows.publish import upload

    settings = settings_from(ctx)
    out = Output(as_json)
    result = upload(settings, files=files or [], manifests=manifests, dry_run=dry_run, report=out)
    out.document(result.manifest.to_dict())


@command(app, "promote", help=PROMOTE_HELP)
def promote_command(
    ctx: typer.Context,
    manifests: list[Path] = option("manifests"),
    target: str | None = option("target"),
    promote_from: str | None = option("promote_from"),
    promote_to: str | None = option("promote_to"),
    move: bool = option("move"),
    dry_run: bool = option("dry_run"),
    as_json: bool = option("as_json"),
    token_file: Path | None = option("token_file"),
    api_url: str | None = option("api_url"),
    concurrency: int | None = option("concurrency"),
    config: Path | None = option("config"),
) -> None:
    from cipub.cli._common import Output
    from cipub.workflows.publish import promote

    settings = settings_from(ctx)
    out = Output(as_json)
    result = promote(settings, manifests=manifests, move=move, dry_run=dry_run, report=out)
    out.document(result.manifest.to_dict())

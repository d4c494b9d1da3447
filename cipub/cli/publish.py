"""``cipub upload`` and ``cipub promote``: act on a manifest, never on "whatever is in the label"."""

from __future__ import annotations

from pathlib import Path

import typer

from cipub.cli import app
from cipub.cli._common import (
    API_URL,
    CHANNEL,
    CONCURRENCY,
    CONFIG,
    DRY_RUN,
    JSON,
    LABEL,
    TOKEN_FILE,
    Output,
    load_manifests,
    open_settings_channel,
    settings_from,
)
from cipub.core.errors import UsageError

UPLOAD_HELP = """Upload built packages to a label of a channel (default label: test).

Each file is checked first: absent -> uploaded; already there with the same sha256 -> skipped
(and given the label if it lacks it); there with different content -> conflict, exit 6, and
nothing is uploaded. Never deletes or overwrites.

Examples:

    cipub upload                                   # dist/cipub-manifest.json -> ./.cipub/channel, label test

    ANACONDA_API_TOKEN=... cipub upload --channel https://anaconda.org/me --label test

    cipub upload --manifest cell1.json --manifest cell2.json   # merge matrix cells, one upload

    cipub upload dist/noarch/foo-1.0-py_0.conda --dry-run
"""

PROMOTE_HELP = """Promote exactly the manifest's files from one label to another (default test -> main).

The files must be on the channel with the sha256 the build recorded; afterwards each one is read
back from the target label and checked. Other files in the source label are never touched.
--move also removes the source label, only after the target is verified. Idempotent.

Examples:

    cipub promote                                  # dist/cipub-manifest.json, test -> main

    cipub promote --channel quetz+https://quetz.example.org/mychan --from rc --to main --move

    cipub build recipe/ && cipub promote           # the whole local loop, zero configuration
"""


@app.command("upload", help=UPLOAD_HELP)
def upload_command(
    files: list[Path] = typer.Argument(None, metavar="[FILES]...", help="Package files (instead of a manifest)."),
    manifest: list[Path] = typer.Option(
        [], "--manifest", "-M", metavar="PATH", help="Manifest(s) to upload; repeat to merge matrix cells."
    ),
    channel: str = CHANNEL,
    label: str = LABEL,
    dry_run: bool = DRY_RUN,
    as_json: bool = JSON,
    token_file: Path = TOKEN_FILE,
    api_url: str = API_URL,
    concurrency: int = CONCURRENCY,
    config: Path = CONFIG,
) -> None:
    from cipub.ci import reports
    from cipub.core import manifest as manifest_mod
    from cipub.core.artifact import read_artifact
    from cipub.core.manifest import ArtifactEntry, Manifest
    from cipub.policy.publish import upload as upload_manifest

    settings = settings_from(
        config, channel=channel, label=label, token_file=token_file, api_url=api_url, concurrency=concurrency
    )
    out = Output(as_json)
    if files and manifest:
        raise UsageError("give either package FILES or --manifest, not both")
    if files:
        # Every file is checked (whole, metadata matches its name) before anything is sent.
        data = Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(f)) for f in files])
        write_to: Path | None = settings.manifest_path if not dry_run else None
    else:
        data, write_to = load_manifests(manifest, settings)
        if len(manifest) > 1:
            write_to = settings.manifest_path
        if dry_run:
            write_to = None
    channel_obj = open_settings_channel(settings)
    out.say(f"uploading {len(data.artifacts)} file(s) to {channel_obj.display}, label {settings.label}")
    with out.progress(len(data.artifacts), "uploading") as step:
        receipts = upload_manifest(data, channel_obj, settings.label, dry_run=dry_run, progress=step)
    counts = {state: sum(1 for r in receipts if r.state == state) for state in {r.state for r in receipts}}
    out.say("done: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if write_to is not None:
        manifest_mod.write(data, write_to)
    reports.report_manifest("upload", data, {"manifest": str(write_to)} if write_to else None)
    out.document(data.to_dict())


@app.command("promote", help=PROMOTE_HELP)
def promote_command(
    manifest: list[Path] = typer.Option(
        [], "--manifest", "-M", metavar="PATH", help="Manifest(s) whose files to promote (repeat to merge)."
    ),
    channel: str = CHANNEL,
    from_label: str = typer.Option(None, "--from", metavar="LABEL", help="Source label. [default: test]"),
    to_label: str = typer.Option(None, "--to", metavar="LABEL", help="Target label. [default: main]"),
    move: bool = typer.Option(False, "--move", help="Also remove the source label once the target is verified."),
    dry_run: bool = DRY_RUN,
    as_json: bool = JSON,
    token_file: Path = TOKEN_FILE,
    api_url: str = API_URL,
    concurrency: int = CONCURRENCY,
    config: Path = CONFIG,
) -> None:
    settings = settings_from(
        config,
        channel=channel,
        promote_from=from_label,
        promote_to=to_label,
        token_file=token_file,
        api_url=api_url,
        concurrency=concurrency,
    )
    from cipub.ci import reports
    from cipub.core import manifest as manifest_mod
    from cipub.policy.promote import promote as promote_manifest

    out = Output(as_json)
    data, write_to = load_manifests(manifest, settings)
    if len(manifest) > 1:
        write_to = settings.manifest_path
    channel_obj = open_settings_channel(settings)
    out.say(
        f"promoting {len(data.artifacts)} file(s) on {channel_obj.display}: "
        f"{settings.promote_from} -> {settings.promote_to}{' (move)' if move else ''}"
    )
    with out.progress(len(data.artifacts), "promoting") as step:
        receipts = promote_manifest(
            data,
            channel_obj,
            settings.promote_from,
            settings.promote_to,
            move=move,
            dry_run=dry_run,
            progress=step,
        )
    out.say(
        f"done: {sum(1 for r in receipts if r.state == 'promoted')} promoted, "
        f"{sum(1 for r in receipts if r.state == 'already-promoted')} already there"
    )
    if not dry_run:
        manifest_mod.write(data, write_to)
    reports.report_manifest("promote", data, None if dry_run else {"manifest": str(write_to)})
    out.document(data.to_dict())

"""``cipub build``: decide the build number from the channel, build, write the manifest, upload."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
    open_settings_channel,
    settings_from,
)
from cipub.core.errors import UsageError

if TYPE_CHECKING:
    from cipub.core.manifest import BuildNumberDecision

BUILD_HELP = """Build a recipe, record what was built in a manifest, and upload it to a staging label.

The build number is decided before building: one more than the highest build of the same
name and version anywhere on the target channel (unless the recipe's number is higher).
recipe.yaml builds in-process with rattler-build (no conda needed); meta.yaml uses conda-build.

Examples:

    cipub build recipe/                        # build, upload to label test of ./.cipub/channel
    cipub promote                              # then promote exactly those files to main

    cipub build recipe/ --no-upload --output-dir out/

    cipub build recipe/ --channel https://anaconda.org/me --label test

    cipub plan recipe/ --format github > matrix.json          # in CI: one job per cell ...
    cipub build recipe/ --plan plan.json --only linux-64-python3.12   # ... each builds its cell
"""


def _parse_variants(values: list[str]) -> dict[str, list[str]]:
    overrides: dict[str, list[str]] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise UsageError(f"--variant {item!r}: expected KEY=VALUE[,VALUE...]")
        overrides[key.strip()] = [v.strip() for v in raw.split(",") if v.strip()]
    return overrides


@app.command("build", help=BUILD_HELP)
def build_command(
    recipe_dir: Path = typer.Argument(Path("recipe"), metavar="[RECIPE_DIR]", help="Recipe directory or file."),
    engine: str = typer.Option(
        None, "--engine", "-e", metavar="auto|rattler-build|conda-build|boa", help="Build engine. [default: auto]"
    ),
    variant_config: list[Path] = typer.Option(
        [], "--variant-config", "-m", metavar="FILE", help="Variant config file(s) (conda_build_config.yaml...)."
    ),
    variant: list[str] = typer.Option([], "--variant", metavar="KEY=V1,V2", help="Override a variant key."),
    platform: str = typer.Option(None, "--platform", metavar="SUBDIR", help="Target platform, e.g. linux-64."),
    only: str = typer.Option(None, "--only", metavar="ID", help="Build only this cell of the plan (see cipub plan)."),
    plan_file: Path = typer.Option(
        None, "--plan", metavar="FILE", help="Plan from `cipub plan --format json`: reuse its build numbers."
    ),
    output_dir: Path = typer.Option(None, "--output-dir", "-o", metavar="DIR", help="Where packages go. [dist]"),
    manifest: Path = typer.Option(
        None, "--manifest", "-M", metavar="PATH", help="Manifest to write. [<output-dir>/cipub-manifest.json]"
    ),
    channel: str = CHANNEL,
    label: str = LABEL,
    build_number: int | None = typer.Option(
        None, "--build-number", min=0, metavar="N", help="Use exactly this number."
    ),
    no_bump: bool = typer.Option(False, "--no-bump", help="Keep the recipe's build number."),
    no_upload: bool = typer.Option(False, "--no-upload", help="Build and write the manifest; upload nothing."),
    dry_run: bool = DRY_RUN,
    as_json: bool = JSON,
    token_file: Path = TOKEN_FILE,
    api_url: str = API_URL,
    concurrency: int = CONCURRENCY,
    config: Path = CONFIG,
) -> None:
    # Imported here, not at module level: `cipub --help` must not pay for what `build` needs.
    from cipub.ci import reports
    from cipub.core import manifest as manifest_mod
    from cipub.core.artifact import read_artifact
    from cipub.core.manifest import ArtifactEntry, Manifest
    from cipub.engines import BuildRequest, select_engine
    from cipub.policy.buildnumber import decide, unify
    from cipub.policy.publish import upload as upload_manifest
    from cipub.recipe import load_recipe

    if build_number is not None and no_bump:
        raise UsageError("--build-number and --no-bump contradict each other")
    for what, value in (("recipe path", recipe_dir), ("--output-dir", output_dir)):
        # rattler-build writes these paths into its build script inside double quotes
        # (export SRC_DIR="..."): `$`, backticks or `"` there would run as shell code.
        if value is not None and any(ch in str(value.absolute()) for ch in '$`"'):
            raise UsageError(f'{what} {str(value)!r} contains $, ` or "; refusing it', hint="rename the directory")
    settings = settings_from(
        config,
        channel=channel,
        label=label,
        engine=engine,
        output_dir=str(output_dir) if output_dir else None,
        manifest=str(manifest) if manifest else None,
        variant_config=[str(p) for p in variant_config],
        token_file=token_file,
        api_url=api_url,
        concurrency=concurrency,
    )
    out = Output(as_json)
    overrides = _parse_variants(variant)
    target_platform: str | None = platform
    recipe = load_recipe(recipe_dir, target_platform=target_platform)
    cell_variant: dict[str, str] = {}
    cell_id: str | None = None
    cell_outputs: tuple[str, ...] = ()
    planned_builds: int | None = None
    planned: list[BuildNumberDecision] = []
    if only or plan_file:
        from cipub.policy import plan as plan_mod

        if plan_file:
            the_plan = plan_mod.Plan.from_json(plan_file.read_text(encoding="utf-8"))
            planned = list(the_plan.build_numbers)
        else:
            the_plan = plan_mod.make_plan(
                recipe,
                variant_configs=[Path(p) for p in settings.variant_config],
                overrides=overrides,
                platforms=list(settings.platforms) or ([platform] if platform else []),
                noarch_platform=settings.noarch_platform,
                channel=None,
            )
        planned_builds = len(the_plan.cells)
        if only:
            cell = plan_mod.select_cell(the_plan, only)
            cell_id, cell_variant, cell_outputs = cell.id, dict(cell.variant), tuple(cell.outputs)
            overrides = {**{k: [v] for k, v in cell.variant.items() if k != "target_platform"}, **overrides}
            target_platform = target_platform or (cell.platform if not cell.noarch else None)

    # A build job that reuses the plan's numbers and uploads nothing needs no channel (and no token).
    needs_channel = not no_upload or not (no_bump or build_number is not None or planned)
    channel_obj = open_settings_channel(settings) if needs_channel else None
    if planned:
        decisions = [d for d in planned if any((d.name, d.version) == (o.name, o.version) for o in recipe.outputs)]
        out.say("build number from the plan: " + ", ".join(f"{d.name} {d.version} -> {d.chosen}" for d in decisions))
    else:
        if channel_obj is not None:
            with channel_obj:
                decisions = [
                    decide(channel_obj, o.name, o.version, o.build_number, explicit=build_number, no_bump=no_bump)
                    for o in recipe.outputs
                ]
        else:
            decisions = [
                decide(None, o.name, o.version, o.build_number, explicit=build_number, no_bump=no_bump)
                for o in recipe.outputs
            ]
        for d in decisions:
            out.say(f"build number for {d.name} {d.version}: {d.chosen} ({d.reason})")
    # Pass a number to the engine only when it differs from what the recipe says.
    number = unify(decisions)
    if all(d.chosen == d.recipe_number for d in decisions):
        number = build_number
    selected = select_engine(settings.engine, recipe)
    out_dir = Path(settings.output_dir)
    request = BuildRequest(
        recipe=recipe,
        output_dir=out_dir,
        variant_configs=tuple(Path(p) for p in settings.variant_config),
        variant_overrides=overrides,
        build_number=number,
        target_platform=target_platform,
        channels=tuple(settings.channels),
    )
    if dry_run:
        out.say(
            f"would build {recipe.path} with {selected.name} into {out_dir}"
            + (f" (cell {cell_id})" if cell_id else "")
            + (f", build number {number}" if number is not None else "")
            + ("" if no_upload else f", then upload to {settings.channel} label {settings.label}")
        )
        out.document(Manifest(build_numbers=decisions, recipe=str(recipe.path), engine=selected.name).to_dict())
        return

    out.say(f"building {recipe.path} with {selected.name}" + (f" (cell {cell_id})" if cell_id else ""))
    paths = selected.build(request)
    artifacts = [read_artifact(p) for p in paths]
    if cell_outputs:
        # A multi-output recipe builds every output in every cell; each output is published by the
        # one cell the plan assigned it to, so merged manifests never hold the same file twice.
        skipped = [a for a in artifacts if a.name not in cell_outputs]
        artifacts = [a for a in artifacts if a.name in cell_outputs]
        for a in skipped:
            out.say(f"not in this cell's outputs (published by another cell): {a.key}")
    if not artifacts:
        from cipub.core.errors import BuildFailedError

        raise BuildFailedError(f"{selected.name} finished but produced no package in {out_dir}")
    data = Manifest(
        artifacts=[ArtifactEntry.from_artifact(a, cell_variant, cell_id) for a in artifacts],
        build_numbers=decisions,
        recipe=str(recipe.path),
        engine=selected.name,
    )
    from cipub.policy.noarch import advise

    data.notes.extend(advise(recipe, artifacts, planned_builds=planned_builds))
    for a in artifacts:
        out.say(f"built     {a.key}  sha256 {a.sha256[:12]}  build {a.build_number}")
    for note in data.notes:
        out.say(f"note: {note}")
    # The manifest is written before any upload: a failed upload loses nothing.
    manifest_path = manifest_mod.write(data, settings.manifest_path)
    out.say(f"manifest  {manifest_path}")
    if not no_upload:
        assert channel_obj is not None
        out.say(f"uploading to {channel_obj.display}, label {settings.label}")
        with out.progress(len(artifacts), "uploading") as step:
            upload_manifest(data, channel_obj, settings.label, progress=step)
        manifest_mod.write(data, manifest_path)
    reports.report_manifest("build", data, {"manifest": str(manifest_path)})
    out.document(data.to_dict())

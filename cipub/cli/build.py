"""``cipub build``: parse, resolve settings, hand the job to :func:`cipub.workflows.build.build`."""

from __future__ import annotations

from pathlib import Path

import typer

from cipub.cli._app import ATTEST_SETTINGS, TARGET_ACCESS, app, command
from cipub.cli._options import RECIPE_ARGUMENT_HELP, option

BUILD_HELP = """Build a recipe, record what was built in a manifest, and upload it to a staging label.

The build number is decided before building: one more than the highest build of the same
name and version anywhere on the target (unless the recipe's number is higher). -c/--channel
names the channels dependencies are solved from (default conda-forge), unless the variant
config's channel_sources name them (a conda-forge pinning does: those are used, as conda-smithy
builds; a different explicit -c is refused); --target says where the packages are published.
recipe.yaml builds in-process with rattler-build (no conda needed); meta.yaml uses conda-build.

Examples:

    cipub build recipe/                        # build, upload to label test of ./.cipub/channel
    cipub promote                              # then promote exactly those files to main

    cipub build recipe/ --no-upload --output-dir out/

    cipub build recipe/ -c conda-forge -c ./local-deps      # dependency channels, as in conda-build

    cipub build recipe/ --target https://anaconda.org/me --label test

    cipub plan recipe/ --format github > matrix.json          # in CI: one job per group ...
    cipub build recipe/ --plan plan.json --only linux-64-python3.12   # ... each builds its cells

    # one job of a conda-forge feedstock, planned as `cipub plan --conda-forge` plans it
    cipub build recipe/ --conda-forge --pinning conda_build_config.yaml --only linux-64-job
"""


@command(
    app,
    "build",
    help=BUILD_HELP,
    settings=(
        "engine",
        "container",
        "container_memory",
        "container_timeout",
        "variant_config",
        "pinning",
        "conda_forge",
        "grouping",
        "platforms",
        "output_dir",
        "manifest",
        "channels",
        "target",
        "label",
        "run_tests",
        *TARGET_ACCESS,
        "concurrency",
        "config",
        *ATTEST_SETTINGS,
    ),
)
def build_command(
    ctx: typer.Context,
    recipe_dir: Path | None = typer.Argument(None, metavar="[RECIPE_DIR]", help=RECIPE_ARGUMENT_HELP),
    variant: list[str] = option("variant"),
    only: str | None = option("only"),
    plan_file: Path | None = option("plan_file"),
    build_number: int | None = option("build_number"),
    no_bump: bool = option("no_bump"),
    no_upload: bool = option("no_upload"),
    dry_run: bool = option("dry_run"),
    as_json: bool = option("as_json"),
) -> None:
    # The settings among these parameters (engine, target, label ...) reach the workflow through
    # settings_and_output(ctx, ...), layered over env and config. Imported here, not at module level:
    # `cipub --help` must not pay for what `build` needs.
    from cipub.cli._common import settings_and_output
    from cipub.recipe.variants import parse_overrides
    from cipub.workflows.build import BuildJob, build, one_platform

    settings, out = settings_and_output(ctx, as_json)
    job = BuildJob(
        # none named: the project's recipe (setting `recipe`, from the project root)
        recipe=recipe_dir or Path(settings.recipe),
        platform=one_platform(settings.platforms, only=only),
        variant_overrides=parse_overrides(variant),
        only=only,
        plan_file=plan_file,
        build_number=build_number,
        no_bump=no_bump,
        upload=not no_upload,
        dry_run=dry_run,
    )
    result = build(settings, job, report=out)
    out.document(result.manifest.to_dict())

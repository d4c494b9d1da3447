"""``cipub plan``: parse, resolve settings, hand the job to :func:`cipub.workflows.plan.plan`."""

from __future__ import annotations

from pathlib import Path

import typer

from cipub.cli._app import app, command, settings_from
from cipub.cli._options import RECIPE_ARGUMENT_HELP, option

PLAN_HELP = """Compute the build matrix of a recipe: one cell per variant and platform.

Expands conda_build_config.yaml / variants.yaml (next to the recipe and every -m file, later files
win), --variant overrides, zip_keys and # [selector] lines, keeping only the keys the recipe
uses. A noarch recipe gives one cell, whatever the platforms. The build number of each
(name, version) is looked up once from the --target, so every job builds with the same one.
-c/--channel (dependency channels) is recorded in the plan for the build jobs.

Examples:

    cipub plan recipe/ --platform linux-64 --platform osx-arm64 -m conda_build_config.yaml

    cipub plan recipe/ --variant python=3.11,3.12 --format json --output plan.json
    cipub build recipe/ --plan plan.json --only linux-64-python3.12    # in each CI job

    # GitHub Actions: a job computes the matrix, the next one builds each cell
    echo "matrix=$(cipub plan recipe/ --format github)" >> "$GITHUB_OUTPUT"
    #   strategy: {matrix: "${{ fromJSON(needs.plan.outputs.matrix) }}"}
    #   runs-on: ${{ matrix.runner }}   ...   cipub build recipe/ --only ${{ matrix.id }}

    cipub plan recipe/ --format gitlab --output cells.yml    # a child pipeline for GitLab
    cipub plan recipe/ --format gitlab --gitlab-tag osx-arm64=my-mac   # jobs of osx-arm64 on your runner

    # a conda-forge feedstock, as conda-smithy renders it (conda-forge.yml, pinning, migrations)
    cipub plan recipe/ --conda-forge --pinning conda-forge-pinning/recipe/conda_build_config.yaml
"""


@command(
    app,
    "plan",
    help=PLAN_HELP,
    settings=(
        "platforms",
        "variant_config",
        "channels",
        "target",
        "noarch_platform",
        "runners",
        "gitlab_tags",
        "pinning",
        "conda_forge",
        "grouping",
        "config",
    ),
)
def plan_command(
    ctx: typer.Context,
    recipe_dir: Path | None = typer.Argument(None, metavar="[RECIPE]", help=RECIPE_ARGUMENT_HELP),
    variant: list[str] = option("variant"),
    format: str = option("format"),
    output: Path | None = option("output"),
    no_build_numbers: bool = option("no_build_numbers"),
) -> None:
    # Settings among the parameters (platforms, target ...) reach the workflow through settings_from.
    from cipub.recipe.variants import parse_overrides
    from cipub.workflows.plan import PlanJob, plan

    settings = settings_from(ctx)
    job = PlanJob(
        # none named: the project's recipe (setting `recipe`, from the project root)
        recipe=recipe_dir or Path(settings.recipe),
        variant_overrides=parse_overrides(variant),
        format=format,
        output=output,
        build_numbers=not no_build_numbers,
    )
    result = plan(settings, job)
    if result.written_to is not None:
        typer.echo(f"wrote {result.written_to} ({len(result.plan.cells)} cell(s))", err=True)
    else:
        typer.echo(result.text, nl=False)
    for note in result.plan.notes:
        typer.echo(f"note: {note}", err=True)

"""``cipub plan``: the build matrix of a recipe, with build numbers decided once for the pipeline."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from cipub.cli import app
from cipub.cli._common import CHANNEL, CONFIG, open_settings_channel, settings_from
from cipub.core.errors import UsageError

PLAN_HELP = """Compute the build matrix of a recipe: one cell per variant and platform.

Expands conda_build_config.yaml / variants.yaml (next to the recipe and every -m file, later files
win), --variant overrides, zip_keys and # [selector] lines, keeping only the keys the recipe
uses. A noarch recipe gives one cell, whatever the platforms. The build number of each
(name, version) is looked up once from the channel, so every job builds with the same one.

Examples:

    cipub plan recipe/ --platform linux-64 --platform osx-arm64 -m conda_build_config.yaml

    cipub plan recipe/ --variant python=3.11,3.12 --format json --output plan.json
    cipub build recipe/ --plan plan.json --only linux-64-python3.12    # in each CI job

    # GitHub Actions: a job computes the matrix, the next one builds each cell
    echo "matrix=$(cipub plan recipe/ --format github)" >> "$GITHUB_OUTPUT"
    #   strategy: {matrix: "${{ fromJSON(needs.plan.outputs.matrix) }}"}
    #   runs-on: ${{ matrix.runner }}   ...   cipub build recipe/ --only ${{ matrix.id }}

    cipub plan recipe/ --format gitlab --output cells.yml    # a child pipeline for GitLab
"""

FORMATS = ("text", "json", "github", "gitlab")


@app.command("plan", help=PLAN_HELP)
def plan_command(
    recipe_dir: Path = typer.Argument(Path("recipe"), metavar="[RECIPE]", help="Recipe directory or file."),
    platform: list[str] = typer.Option(
        [], "--platform", "-p", metavar="SUBDIR", help="Target platform(s). [default: config, else this machine]"
    ),
    variant_config: list[Path] = typer.Option(
        [], "--variant-config", "-m", metavar="FILE", help="Variant config file(s); later files win."
    ),
    variant: list[str] = typer.Option([], "--variant", metavar="KEY=V1,V2", help="Override a variant key."),
    channel: str = CHANNEL,
    fmt: str = typer.Option("text", "--format", "-f", metavar="|".join(FORMATS), help="Output format."),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="FILE", help="Write the output here, not stdout."
    ),
    noarch_platform: str | None = typer.Option(
        None, "--noarch-platform", metavar="SUBDIR", help="Where noarch recipes build. [default: linux-64]"
    ),
    no_build_numbers: bool = typer.Option(
        False, "--no-build-numbers", help="Do not ask the channel for build numbers."
    ),
    config: Path | None = CONFIG,
) -> None:
    from cipub.ci import matrix
    from cipub.policy import noarch, plan
    from cipub.recipe import load_recipe
    from cipub.recipe.variants import parse_override

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    settings = settings_from(
        config,
        channel=channel,
        variant_config=[str(p) for p in variant_config],
        platforms=list(platform),
        noarch_platform=noarch_platform,
    )
    overrides = dict(parse_override(item) for item in variant)
    recipe = load_recipe(recipe_dir, target_platform=(settings.platforms or [None])[0])
    arguments = {
        "variant_configs": [Path(p) for p in settings.variant_config],
        "overrides": overrides,
        "platforms": list(settings.platforms),
        "noarch_platform": settings.noarch_platform,
    }
    notes: list[str] = []
    opened = None
    if not no_build_numbers:
        try:
            opened = open_settings_channel(settings)
        except ImportError as exc:
            notes.append(f"channel {settings.channel} cannot be opened here ({exc}): planned without build numbers")
    if opened is not None:
        with opened:
            the_plan = plan.make_plan(recipe, channel=opened, **arguments)  # type: ignore[arg-type]
    else:
        the_plan = plan.make_plan(recipe, channel=None, **arguments)  # type: ignore[arg-type]
    notes.extend(noarch.advise_plan(recipe, the_plan))
    the_plan.notes.extend(notes)

    if fmt == "json":
        text = the_plan.to_json()
    elif fmt == "github":
        text = matrix.render_github_matrix(the_plan)
    elif fmt == "gitlab":
        text = matrix.render_gitlab_child_pipeline(the_plan)
    else:
        text = _table(the_plan)
    if output is not None:
        _write_atomically(output, text)
        typer.echo(f"wrote {output} ({len(the_plan.cells)} cell(s))", err=True)
    else:
        typer.echo(text, nl=False)
    for note in the_plan.notes:
        typer.echo(f"note: {note}", err=True)


def _table(the_plan: object) -> str:
    from cipub.policy.plan import Plan

    assert isinstance(the_plan, Plan)
    width = max(len(c.id) for c in the_plan.cells)
    lines = [f"{the_plan.recipe}: {len(the_plan.cells)} cell(s)"]
    for cell in the_plan.cells:
        variant = " ".join(f"{k}={v}" for k, v in sorted(cell.variant.items())) or "-"
        kind = f"noarch: {cell.noarch}" if cell.noarch else cell.platform
        lines.append(f"  {cell.id:<{width}}  {kind:<16}  runner {cell.runner:<16}  {variant}")
    for d in the_plan.build_numbers:
        lines.append(f"build number {d.name} {d.version}: {d.chosen} ({d.reason})")
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

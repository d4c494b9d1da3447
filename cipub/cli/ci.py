"""``cipub ci``: starter CI files, and the steps cipub's CI templates run.

- ``cipub ci init github|gitlab``: write a starter workflow / pipeline into a repository.
- ``cipub ci report-plan PLAN``: publish a plan as CI outputs (matrix, ids, build numbers, summary).
- ``cipub ci gitlab-pipeline PLAN``: the GitLab child pipeline for a plan (see ``cipub.ci``).
- ``cipub ci verify``: the staged files are on the label with the built sha256, and install.

The work is :mod:`cipub.workflows.ci` and :mod:`cipub.workflows.verify`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from cipub.cli._app import REQUIRE_ATTESTATION, TARGET_ACCESS, app, command, group_callback, settings_from
from cipub.cli._options import option
from cipub.workflows.ci import DEFAULT_ACTION, DEFAULT_IMAGE  # light: jinja2 is imported when rendering

ci_app = typer.Typer(
    name="ci",
    help="CI integration: starter workflows (init) and the steps cipub's CI templates run.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
group_callback(ci_app)
app.add_typer(ci_app, name="ci")


class Provider(str, Enum):
    github = "github"
    gitlab = "gitlab"


INIT_HELP = """Write a starter CI configuration for a recipe into this repository.

github: .github/workflows/cipub.yml -- plan, a build job per cell, one publish job to the
staging label, verify, and promotion behind the `release` environment (composite action).

gitlab: .gitlab-ci.yml including .gitlab/cipub.yml (a copy of cipub's include at this
version) -- the same chain as a child pipeline, with a manual promote job.

Refuses to overwrite an existing file unless --force (exit 2).

Examples:

    cipub ci init github --recipe recipe --target https://anaconda.org/my-org

    cipub ci init gitlab --recipe conda/recipe --target quetz+https://quetz.example.org/my-channel \\
        --platform linux-64 --platform osx-arm64
"""


@command(ci_app, "init", help=INIT_HELP)
def init_command(
    provider: Provider = typer.Argument(..., metavar="github|gitlab", help="Which CI to write files for."),
    recipe_path: str = typer.Option(
        "recipe", "--recipe", metavar="DIR", help="Recipe directory, relative to the repo."
    ),
    target: str = option("target", required=True, help="Where CI publishes (https://anaconda.org/OWNER, ...)."),
    platforms: list[str] = option("platforms", help="Target platform(s)."),
    directory: Path | None = typer.Option(
        None, "--directory", "-C", metavar="DIR", help="Repository root (default: the one cipub runs in)."
    ),
    action: str = typer.Option(
        DEFAULT_ACTION,
        "--action",
        metavar="OWNER/REPO/PATH@REF",
        help="github: the cipub action (default: this version, pinned by commit).",
    ),
    image: str = typer.Option(
        DEFAULT_IMAGE, "--image", metavar="IMAGE", help="gitlab: image of the cipub jobs ('' for shell runners)."
    ),
    install: str = typer.Option(
        "", "--install", metavar="SPEC", help="gitlab: pip requirement for cipub in the jobs, or 'none'."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
    runners: list[str] = option("runners", help="github: runner label of a platform (osx-64=LABEL); repeatable."),
) -> None:
    from cipub.core.settings import repository_root
    from cipub.workflows.ci import InitJob, init

    # CI files live at the repository's root, wherever in the checkout this runs.
    directory = directory or repository_root(Path.cwd()) or Path()
    job = InitJob(provider.value, target, recipe_path, platforms, directory, action, image, install, force, runners)
    result = init(job)
    for path in result.written:
        typer.echo(f"wrote {path}")
    if result.recipe_missing:
        typer.echo(
            f"note: {directory / recipe_path} does not exist yet; the workflow builds the recipe there", err=True
        )
    typer.echo(f"next: store the target's token as {result.token_where}, then commit and push", err=True)


@command(ci_app, "report-plan")
def report_plan_command(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A plan from `cipub plan --format json`."),
) -> None:
    """Publish a plan to the CI provider: the matrix, cell ids, build numbers and a summary table.

    GitHub Actions: step outputs and the step summary; GitLab CI: the dotenv report. Does nothing
    elsewhere.

    Example:

        cipub plan recipe/ --format json --output plan.json && cipub ci report-plan plan.json
    """
    from cipub.workflows.ci import report_plan

    the_plan = report_plan(plan_file)
    typer.echo(f"{plan_file}: {len(the_plan.cells)} cell(s): {', '.join(the_plan.ids)}", err=True)


@command(ci_app, "gitlab-pipeline")
def gitlab_pipeline_command(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A plan from `cipub plan --format json`."),
    output: Path | None = option("output"),
    promote_when: str = option("promote_when"),
    environment: str = option("environment"),
    verify: str = option("verify"),
    runner_tags: str = option("runner_tags"),
    pipeline_attest: str = option("pipeline_attest"),
) -> None:
    """Write the GitLab child pipeline for a plan: build each cell, publish, verify, promote.

    The cipub include runs this in its plan job and triggers the result. Options default to the
    include's CIPUBCI_* variables.

    Example:

        cipub ci gitlab-pipeline plan.json --output cipub-pipeline.yml --promote-when manual
    """
    from cipub.workflows.ci import GitlabPipelineJob, gitlab_pipeline

    job = GitlabPipelineJob(plan_file, output, promote_when, environment, verify, runner_tags, pipeline_attest)
    the_plan, text = gitlab_pipeline(job)
    if output is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"wrote {output} ({len(the_plan.cells)} build job(s))", err=True)


class VerifyMode(str, Enum):
    install = "install"
    isolated = "isolated"
    files = "files"


VERIFY_HELP = """Check a staged release before promoting it.

Every file of the manifest(s) must carry the label on the channel with the sha256 the build
recorded; then each package this machine can install (its platform and noarch) is solved and
installed, exactly that build, into a throw-away environment with py-rattler.
--mode isolated solves from the label alone (packages without outside dependencies, offline);
--mode files only checks the channel. Exit 8 if anything is missing or different.

Examples:

    cipub ci verify                                   # output/cipub-manifest.json, label test

    cipub ci verify --manifest a.json --manifest b.json --target https://anaconda.org/me
"""


@command(
    ci_app,
    "verify",
    help=VERIFY_HELP,
    settings=(
        "target",
        "label",
        *TARGET_ACCESS,
        "output_dir",
        "config",
        *REQUIRE_ATTESTATION,
    ),
)
def verify_command(
    ctx: typer.Context,
    manifests: list[Path] = option("manifests"),
    verify_mode: VerifyMode = option("verify_mode"),
    platform: str | None = option("platform", help="Install as this platform."),
) -> None:
    # Settings among the parameters (target, label ...) reach the workflow through settings_from.
    from cipub.cli._common import Output
    from cipub.workflows.verify import verify

    settings = settings_from(ctx)
    out = Output(False)
    verify(settings, manifests=manifests, mode=verify_mode.value, platform=platform, report=out)

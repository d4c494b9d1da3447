"""``cipub ci``: starter CI files, and the steps cipub's CI templates run.

- ``cipub ci init github|gitlab``: write a starter workflow / pipeline into a repository.
- ``cipub ci report-plan PLAN``: publish a plan as CI outputs (matrix, ids, build numbers, summary).
- ``cipub ci gitlab-pipeline PLAN``: the GitLab child pipeline for a plan (see ``cipub.ci``).
- ``cipub ci verify``: the staged files are on the label with the built sha256, and install.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cipub import __version__
from cipub.cli import app
from cipub.cli._common import (
    API_URL,
    CHANNEL,
    CONFIG,
    LABEL,
    TOKEN_FILE,
    Output,
    load_manifests,
    open_settings_channel,
    settings_from,
)
from cipub.core.errors import UsageError, VerificationError

if TYPE_CHECKING:
    import jinja2

    from cipub.channels.base import Channel, ChannelFile
    from cipub.core.manifest import ArtifactEntry, Manifest

ci_app = typer.Typer(
    name="ci",
    help="CI integration: starter workflows (init) and the steps cipub's CI templates run.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(ci_app, name="ci")

#: where the composite action lives; `cipub ci init github --action` overrides it
DEFAULT_ACTION = "OWNER/cipub/github-actions@v1"
#: gitlab: the image of the cipub jobs; `--image ''` for shell runners
DEFAULT_IMAGE = "python:3.12-slim"


# -- init --------------------------------------------------------------------------------------------


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

    cipub ci init github --recipe recipe --channel https://anaconda.org/my-org

    cipub ci init gitlab --recipe conda/recipe --platform linux-64 --platform osx-arm64
"""


def _template_env() -> jinja2.Environment:
    import jinja2

    # Custom delimiters: the files are full of GitHub's ${{ }} and GitLab's $[[ ]].
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cipub", "templates"),
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 -- YAML, not HTML: values are quoted by _scalar instead
    )


def _scalar(name: str, value: str) -> str:
    """A user's value as a YAML double-quoted scalar: it can never become YAML structure or a CI
    expression (GitHub evaluates ${{ }} in `with:` values, GitLab $[[ ]] in included files)."""
    if any(c in value for c in "\n\r\0"):
        raise UsageError(f"--{name} must be a single line")
    if "${{" in value or "$[[" in value:
        raise UsageError(f"--{name} must not contain a CI expression (${{{{ }}}} or $[[ ]])")
    return json.dumps(value, ensure_ascii=False)


def render_github_workflow(
    *,
    reusable: bool,
    recipe: str = "recipe",
    channel: str = "",
    platforms: Sequence[str] = (),
    action: str = DEFAULT_ACTION,
) -> str:
    """The starter workflow (``reusable=False``) or the shipped reusable workflow (``reusable=True``)."""
    if reusable:
        values = {
            "recipe": "${{ inputs.recipe }}",
            "channel": "${{ inputs.channel }}",
            "platforms": "${{ inputs.platforms }}",
            "variant_config": "${{ inputs.variant-config }}",
            "label": "${{ inputs.label }}",
            "promote_to": "${{ inputs.promote-to }}",
            "promote_condition": "inputs.promote",
            "environment": "${{ inputs.environment }}",
            "verify_args": "--mode=${{ inputs.verify }}",
            "python_version": "${{ inputs.python-version }}",
            "token": "${{ secrets.token }}",
        }
    else:
        values = {
            "recipe": _scalar("recipe", recipe),
            "channel": _scalar("channel", channel),
            "platforms": _scalar("platform", " ".join(platforms)),
            "variant_config": '""',
            "label": '"test"',
            "promote_to": '"main"',
            "promote_condition": "startsWith(github.ref, 'refs/tags/')",
            "environment": "release",
            "verify_args": "--mode=install",
            "python_version": '"3.12"',
            "token": "${{ secrets.CONDA_TOKEN }}",
        }
    template = _template_env().get_template("github/workflow.yml.j2")
    return template.render(reusable=reusable, action=_scalar("action", action), version=__version__, **values)


def render_init(
    provider: str,
    *,
    recipe: str = "recipe",
    channel: str = "",
    platforms: Sequence[str] = (),
    action: str = DEFAULT_ACTION,
    image: str = DEFAULT_IMAGE,
    install: str = "",
) -> dict[str, str]:
    """Relative path -> content of the files ``cipub ci init PROVIDER`` writes."""
    from cipub.ci import matrix

    if provider == "github":
        text = render_github_workflow(
            reusable=False, recipe=recipe, channel=channel, platforms=platforms, action=action
        )
        return {".github/workflows/cipub.yml": text}
    if provider == "gitlab":
        template = _template_env().get_template("gitlab/gitlab-ci.yml.j2")
        text = template.render(
            recipe=_scalar("recipe", recipe),
            channel=_scalar("channel", channel),
            platforms=_scalar("platform", ",".join(platforms)),
            image=_scalar("image", image) if image else "",
            install=_scalar("install", install) if install else "",
            version=__version__,
        )
        return {".gitlab-ci.yml": text, ".gitlab/cipub.yml": matrix.gitlab_include_text()}
    raise UsageError(f"unknown CI provider {provider!r}: choose github or gitlab")


@ci_app.command("init", help=INIT_HELP)
def init_command(
    provider: Provider = typer.Argument(..., metavar="github|gitlab", help="Which CI to write files for."),
    recipe: str = typer.Option("recipe", "--recipe", metavar="DIR", help="Recipe directory, relative to the repo."),
    channel: str = typer.Option(
        ..., "--channel", "-c", metavar="TARGET", help="Where CI publishes (https://anaconda.org/OWNER, ...)."
    ),
    platform: list[str] = typer.Option([], "--platform", "-p", metavar="SUBDIR", help="Target platform(s)."),
    directory: Path = typer.Option(Path(), "--directory", "-C", metavar="DIR", help="Repository root."),
    action: str = typer.Option(
        DEFAULT_ACTION, "--action", metavar="OWNER/REPO/PATH@REF", help="github: the cipub action to use."
    ),
    image: str = typer.Option(
        DEFAULT_IMAGE, "--image", metavar="IMAGE", help="gitlab: image of the cipub jobs ('' for shell runners)."
    ),
    install: str = typer.Option(
        "", "--install", metavar="SPEC", help="gitlab: pip requirement for cipub in the jobs, or 'none'."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    files = render_init(
        provider.value,
        recipe=recipe,
        channel=channel,
        platforms=platform,
        action=action,
        image=image,
        install=install,
    )
    existing = [name for name in files if (directory / name).exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(str(directory / n) for n in existing)} already exist(s); nothing written",
            hint="pass --force to overwrite",
        )
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {path}")
    if not (directory / recipe).exists():
        typer.echo(f"note: {directory / recipe} does not exist yet; the workflow builds the recipe there", err=True)
    if provider == Provider.github:
        where = "the repository secret CONDA_TOKEN"
    else:
        where = "a masked, protected CI/CD variable named as the target expects (ANACONDA_API_TOKEN, QUETZ_API_KEY...)"
    typer.echo(f"next: store the channel's token as {where}, then commit and push", err=True)


# -- report-plan, gitlab-pipeline --------------------------------------------------------------------


def _load_plan(path: Path) -> Any:
    from cipub.policy.plan import Plan

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"plan {path} does not exist", hint="write one with `cipub plan RECIPE --format json --output FILE`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read plan {path}: {exc}") from None
    return Plan.from_json(text, source=str(path))


@ci_app.command("report-plan")
def report_plan_command(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A plan from `cipub plan --format json`."),
) -> None:
    """Publish a plan to the CI provider: the matrix, cell ids, build numbers and a summary table.

    GitHub Actions: step outputs and the step summary; GitLab CI: the dotenv report. Does nothing
    elsewhere.

    Example:

        cipub plan recipe/ --format json --output plan.json && cipub ci report-plan plan.json
    """
    from cipub.ci import reports

    the_plan = _load_plan(plan_file)
    reports.report_plan(the_plan, str(plan_file))
    typer.echo(f"{plan_file}: {len(the_plan.cells)} cell(s): {', '.join(the_plan.ids)}", err=True)


@ci_app.command("gitlab-pipeline")
def gitlab_pipeline_command(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A plan from `cipub plan --format json`."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="FILE", help="Write here instead of stdout."),
    promote_when: str = typer.Option(
        "manual", "--promote-when", envvar="CIPUBCI_PROMOTE_WHEN", metavar="manual|on_success|never"
    ),
    environment: str = typer.Option("conda-main", "--environment", envvar="CIPUBCI_ENVIRONMENT", metavar="NAME"),
    verify_mode: str = typer.Option("install", "--verify", envvar="CIPUBCI_VERIFY", metavar="install|isolated|files"),
    runner_tags: str = typer.Option(
        "", "--runner-tags", envvar="CIPUBCI_RUNNER_TAGS", metavar="PLATFORM=TAG,...", help="Runner tag per platform."
    ),
) -> None:
    """Write the GitLab child pipeline for a plan: build each cell, publish, verify, promote.

    The cipub include runs this in its plan job and triggers the result. Options default to the
    include's CIPUBCI_* variables.

    Example:

        cipub ci gitlab-pipeline plan.json --output cipub-pipeline.yml --promote-when manual
    """
    from cipub.ci import matrix

    the_plan = _load_plan(plan_file)
    text = matrix.render_gitlab_child_pipeline(
        the_plan,
        promote_when=promote_when or "manual",
        environment=environment or "conda-main",
        verify=verify_mode or "install",
        runner_tags=matrix.parse_runner_tags(runner_tags or ""),
    )
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output} ({len(the_plan.cells)} build job(s))", err=True)


# -- verify ------------------------------------------------------------------------------------------


class VerifyMode(str, Enum):
    install = "install"
    isolated = "isolated"
    files = "files"


@dataclass
class Checked:
    entry: ArtifactEntry
    state: str  # "installed", "on channel", or what is wrong
    ok: bool


def check_on_channel(manifest: Manifest, channel: Channel, label: str) -> list[Checked]:
    """Each manifest file carries ``label`` on the channel with the sha256 the build recorded."""
    from cipub.channels.base import find_file

    results = []
    listed: dict[tuple[str, str], list[ChannelFile]] = {}
    for a in manifest.artifacts:
        key = (a.name, a.version)
        if key not in listed:
            listed[key] = channel.files(a.name, a.version)
        found = find_file(listed[key], a.subdir, a.filename)
        sha = found.sha256_in(label) if found is not None else None
        if found is None or label not in found.labels:
            results.append(Checked(a, f"not in label {label}", False))
        elif sha != a.sha256:
            results.append(Checked(a, f"sha256 {str(sha)[:12]} in label {label}, built {a.sha256[:12]}", False))
        else:
            results.append(Checked(a, "on channel", True))
    return results


def install_exactly(entry: ArtifactEntry, channels: Sequence[str], platform: str, cache: Path) -> str | None:
    """Solve and install exactly this file (name, version, build) into a fresh prefix, as conda
    would; None when it worked, else what went wrong."""
    import asyncio

    from rattler import Channel as RattlerChannel
    from rattler import install, solve

    spec = f"{entry.name} =={entry.version} {entry.build}"

    async def run(prefix: Path) -> str | None:
        subdirs: Any = [platform, "noarch"]
        records = await solve([RattlerChannel(c) for c in channels], [spec], platforms=subdirs)
        mine = [r for r in records if r.name.normalized == entry.name.lower()]
        if not mine or mine[0].file_name != entry.filename:
            return f"the solver did not select {entry.filename}"
        served = mine[0].sha256
        if served is not None and served.hex() != entry.sha256:
            return f"the channel serves {entry.filename} with sha256 {served.hex()[:12]}"
        await install(records, target_prefix=prefix, cache_dir=cache, show_progress=False)
        return None

    with tempfile.TemporaryDirectory(prefix="cipub-verify-") as tmp:
        try:
            return asyncio.run(run(Path(tmp) / "env"))
        except Exception as exc:  # py-rattler has its own exception classes; keep the first line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"cannot install {spec}: {first}"


def verify_release(
    manifest: Manifest,
    channel: Channel,
    label: str,
    *,
    mode: str = "install",
    dependency_channels: Sequence[str] = (),
    platform: str | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> list[Checked]:
    """Check every file; VerificationError (exit 8) naming each one that failed."""
    with channel:
        results = check_on_channel(manifest, channel, label)
        install_url = channel.install_url(label)
    if mode != "files":
        from rattler import Subdir

        here = platform or str(Subdir.current())
        sources = [install_url] + (list(dependency_channels) if mode == "install" else [])
        with tempfile.TemporaryDirectory(prefix="cipub-verify-pkgs-") as cache:
            for i, result in enumerate(results):
                if result.ok and result.entry.subdir in (here, "noarch"):
                    problem = install_exactly(result.entry, sources, here, Path(cache))
                    results[i] = Checked(result.entry, problem or "installed", problem is None)
    for r in results:
        say(f"{'ok' if r.ok else 'FAILED':<7}{r.entry.key}  {r.state}")
    failed = [r for r in results if not r.ok]
    if failed:
        raise VerificationError(
            f"{len(failed)} of {len(results)} file(s) failed verification in label {label}: "
            + "; ".join(f"{r.entry.key}: {r.state}" for r in failed),
            hint="nothing was promoted; upload the manifest again (`cipub upload`) and re-run verify",
        )
    return results


VERIFY_HELP = """Check a staged release before promoting it.

Every file of the manifest(s) must carry the label on the channel with the sha256 the build
recorded; then each package this machine can install (its platform and noarch) is solved and
installed, exactly that build, into a throw-away environment with py-rattler.
--mode isolated solves from the label alone (packages without outside dependencies, offline);
--mode files only checks the channel. Exit 8 if anything is missing or different.

Examples:

    cipub ci verify                                   # dist/cipub-manifest.json, label test

    cipub ci verify --manifest a.json --manifest b.json --channel https://anaconda.org/me
"""


@ci_app.command("verify", help=VERIFY_HELP)
def verify_command(
    manifest: list[Path] = typer.Option(
        [], "--manifest", "-M", metavar="PATH", help="Manifest(s) to verify (repeat to merge matrix cells)."
    ),
    channel: str = CHANNEL,
    label: str = LABEL,
    mode: VerifyMode = typer.Option(VerifyMode.install, "--mode", help="install, isolated or files."),
    platform: str = typer.Option(None, "--platform", metavar="SUBDIR", help="Install as this platform."),
    token_file: Path = TOKEN_FILE,
    api_url: str = API_URL,
    config: Path = CONFIG,
) -> None:
    from cipub.ci import provider, reports

    settings = settings_from(config, channel=channel, label=label, token_file=token_file, api_url=api_url)
    data, _ = load_manifests(manifest, settings)
    out = Output(False)
    target = open_settings_channel(settings)
    out.say(f"verifying {len(data.artifacts)} file(s) in label {settings.label} of {target.display}")
    results = verify_release(
        data,
        target,
        settings.label,
        mode=mode.value,
        dependency_channels=settings.channels,
        platform=platform,
        say=out.say,
    )
    provider.report_outputs({"command": "verify", "label": settings.label, "verified": len(results)})
    rows = [
        [
            reports.md_code(r.entry.filename),
            reports.md_cell(r.entry.subdir),
            reports.md_code(r.entry.sha256[:12]),
            reports.md_cell(settings.label),
            reports.md_cell(r.state),
        ]
        for r in results
    ]
    reports.report_summary(
        f"### cipub verify: {len(results)} file(s) in label {reports.md_code(settings.label)}\n\n"
        + reports.markdown_table(["File", "Subdir", "sha256", "Label", "State"], rows)
    )


def template_names() -> list[str]:
    """Every template file shipped in the package (used by the tests and the wheel check)."""
    root = resources.files("cipub").joinpath("templates")
    return sorted(f"{d.name}/{f.name}" for d in root.iterdir() if d.is_dir() for f in d.iterdir() if f.is_file())

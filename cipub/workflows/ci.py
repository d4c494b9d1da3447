"""``cipub ci``: starter CI files (``init``), and the steps cipub's CI templates run.

- :func:`init`: write a starter workflow (GitHub) or pipeline (GitLab) into a repository;
- :func:`report_plan`: publish a plan as CI outputs (matrix, ids, build numbers, summary);
- :func:`gitlab_pipeline`: the GitLab child pipeline of a plan (rendered by :mod:`cipub.ci`).

``ci verify`` is :mod:`cipub.workflows.verify`. Imports are lazy: ``cipub ci --help`` reads the defaults here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cipub import __version__
from cipub.core.errors import UsageError

if TYPE_CHECKING:
    import jinja2

    from cipub.policy.plan import Plan

Provider = Literal["github", "gitlab"]

#: the GitHub repository this project is published from (its composite action is github-actions/)
ACTION_REPOSITORY = "cipub-dev/cipub"
#: the commit of this project the generated workflows pin the action to: a full SHA, as GitHub
#: advises for third-party actions (a tag can move). It must be a commit of this repository's main
#: history with github-actions/action.yml (merged with its history, never squashed):
#: tests/unit/ci/test_init_pins.py checks that it exists and
#: that its action takes every input the generated workflow passes. Bump it when the action changes.
ACTION_REF = "d5c32215a912315de75b7a9c3f27212425f12ef1"
#: the version of the pinned commit, as the "# vX.Y.Z" comment every pinned action carries
ACTION_REF_NAME = "v0.1.0"
#: gitlab: the pip requirement the include installs cipub from by default (cipub is not on PyPI):
#: this project's source at the pinned commit, an archive pip builds without git
PINNED_REQUIREMENT = f"cipub @ https://github.com/{ACTION_REPOSITORY}/archive/{ACTION_REF}.tar.gz"
#: where the composite action lives; `cipub ci init github --action` overrides it
DEFAULT_ACTION = f"{ACTION_REPOSITORY}/github-actions@{ACTION_REF}"
#: gitlab: the image of the cipub jobs; `--image ''` for shell runners
DEFAULT_IMAGE = "python:3.12-slim"


# -- init --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitJob:
    provider: str
    #: where CI publishes (a target, as on the command line)
    target: str
    recipe: str = "recipe"
    platforms: Sequence[str] = ()
    #: the repository root the files are written into
    directory: Path = Path()
    action: str = DEFAULT_ACTION
    image: str = DEFAULT_IMAGE
    install: str = ""
    force: bool = False
    #: github: ``PLATFORM=LABEL`` runner overrides, written as the plan step's CIPUB_RUNNERS
    runners: Sequence[str] = ()


@dataclass(frozen=True)
class InitResult:
    written: list[Path]
    #: the recipe directory does not exist yet (the workflow builds it there)
    recipe_missing: bool
    #: where the user stores the target's token, in words
    token_where: str


def init(job: InitJob) -> InitResult:
    """Write the starter files; UsageError (exit 2) if one exists and ``force`` is not set."""
    from cipub.channels import parse_target, token_variable

    kind = parse_target(job.target).kind  # a target CI could not use is refused now, not at the first push
    # render_init takes every other field of the job by the same name
    what = {f.name: getattr(job, f.name) for f in fields(job) if f.name not in ("provider", "directory", "force")}
    files = render_init(job.provider, **what)
    if not job.directory.is_dir():  # a typo in --directory must not grow a new tree somewhere
        raise UsageError(f"{job.directory} is not a directory", hint="pass the repository root with --directory/-C")
    existing = [name for name in files if (job.directory / name).exists()]
    if existing and not job.force:
        raise UsageError(
            f"{', '.join(str(job.directory / n) for n in existing)} already exist(s); nothing written",
            hint="pass --force to overwrite",
        )
    written = []
    for name, text in files.items():
        path = job.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if job.provider == "github":
        secret = token_variable(kind)
        where = f"the repository secret {secret}" if secret else f"nowhere (a {kind} target needs no token secret)"
    else:
        where = "a masked, protected CI/CD variable named as the target expects (ANACONDA_API_TOKEN, QUETZ_API_KEY...)"
    return InitResult(written, not (job.directory / job.recipe).exists(), where)


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
    import json

    if any(c in value for c in "\n\r\0"):
        raise UsageError(f"--{name} must be a single line")
    if "${{" in value or "$[[" in value:
        raise UsageError(f"--{name} must not contain a CI expression (${{{{ }}}} or $[[ ]])")
    return json.dumps(value, ensure_ascii=False)


def render_github_workflow(
    *,
    reusable: bool,
    recipe: str = "recipe",
    target: str = "",
    platforms: Sequence[str] = (),
    action: str = DEFAULT_ACTION,
    runners: Sequence[str] = (),
) -> str:
    """The starter workflow (``reusable=False``) or the shipped reusable workflow (``reusable=True``)."""
    from cipub.channels.base import NAMES
    from cipub.policy.plan import parse_runners

    runner_overrides = ""
    if reusable:
        values = {
            "recipe": "${{ inputs.recipe }}",
            "target": "${{ inputs.target }}",
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
            "target": _scalar("target", target),
            "platforms": _scalar("platform", " ".join(platforms)),
            "variant_config": '""',
            "label": '"test"',
            "promote_to": '"main"',
            "promote_condition": "startsWith(github.ref, 'refs/tags/')",
            "environment": "release",
            "verify_args": "--mode=install",
            "python_version": '"3.12"',
            "token": _token_expression(target),
        }
        parse_runners(runners)  # a bad PLATFORM=LABEL is refused here, not in the first plan job
        runner_overrides = _scalar("runner", ",".join(runners)) if runners else ""
    template = _template_env().get_template("github/workflow.yml.j2")
    pinned = action == DEFAULT_ACTION
    return template.render(
        reusable=reusable,
        label_pattern=NAMES.pattern.pattern,
        label_max=NAMES.max_length,
        label_rule=NAMES.explained,
        action=_scalar("action", action) + (f" # {ACTION_REF_NAME}" if pinned else ""),
        version=__version__,
        secret=_secret_name(target),
        runners=runner_overrides,
        repository=ACTION_REPOSITORY,
        ref=ACTION_REF,
        ref_name=ACTION_REF_NAME,
        **values,
    )


def _secret_name(target: str) -> str:
    """The repository secret a starter workflow for ``target`` reads ('' when the target needs none)."""
    from cipub.channels import parse_target, token_variable

    return token_variable(parse_target(target).kind) if target else ""


def _token_expression(target: str) -> str:
    secret = _secret_name(target)
    return f"${{{{ secrets.{secret} }}}}" if secret else '""'


def render_init(
    provider: str,
    *,
    recipe: str = "recipe",
    target: str = "",
    platforms: Sequence[str] = (),
    action: str = DEFAULT_ACTION,
    image: str = DEFAULT_IMAGE,
    install: str = "",
    runners: Sequence[str] = (),
) -> dict[str, str]:
    """Relative path -> content of the files ``cipub ci init PROVIDER`` writes."""
    from cipub.ci import matrix

    if provider == "github":
        text = render_github_workflow(
            reusable=False, recipe=recipe, target=target, platforms=platforms, action=action, runners=runners
        )
        return {".github/workflows/cipub.yml": text}
    if provider == "gitlab":
        template = _template_env().get_template("gitlab/gitlab-ci.yml.j2")
        text = template.render(
            recipe=_scalar("recipe", recipe),
            target=_scalar("target", target),
            platforms=_scalar("platform", ",".join(platforms)),
            image=_scalar("image", image) if image else "",
            install=_scalar("install", install) if install else "",
            version=__version__,
        )
        return {".gitlab-ci.yml": text, ".gitlab/cipub.yml": matrix.gitlab_include_text()}
    raise UsageError(f"unknown CI provider {provider!r}: choose github or gitlab")


def template_names() -> list[str]:
    """Every template file shipped in the package (used by the tests and the wheel check)."""
    from importlib import resources

    root = resources.files("cipub").joinpath("templates")
    return sorted(f"{d.name}/{f.name}" for d in root.iterdir() if d.is_dir() for f in d.iterdir() if f.is_file())


# -- report-plan, gitlab-pipeline --------------------------------------------------------------------


def report_plan(plan_file: Path) -> Plan:
    """Publish a plan to the CI provider (outputs, summary); does nothing outside CI."""
    from cipub.ci import reports
    from cipub.workflows.plan import load_plan

    the_plan = load_plan(plan_file)
    reports.report_plan(the_plan, str(plan_file))
    return the_plan


@dataclass(frozen=True)
class GitlabPipelineJob:
    plan_file: Path
    #: write the pipeline here, or None to return it for stdout
    output: Path | None = None
    promote_when: str = "manual"
    environment: str = "conda-main"
    verify: str = "install"
    #: ``PLATFORM=TAG,...``: the runner tag of each platform's build jobs
    runner_tags: str = ""
    #: ``sigstore`` (default): the publish job signs keyless; ``none`` or empty: unsigned
    attest: str = "sigstore"


def gitlab_pipeline(job: GitlabPipelineJob) -> tuple[Plan, str]:
    """The GitLab child pipeline for a plan: build each cell, publish, verify, promote."""
    from cipub.ci import matrix
    from cipub.workflows.plan import load_plan

    the_plan = load_plan(job.plan_file)
    options: Mapping[str, object] = {
        "promote_when": job.promote_when or "manual",
        "environment": job.environment or "conda-main",
        "verify": job.verify or "install",
        "runner_tags": matrix.parse_runner_tags(job.runner_tags or ""),
        "attest": job.attest,
    }
    text = matrix.render_gitlab_child_pipeline(the_plan, **options)
    if job.output is not None:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        job.output.write_text(text, encoding="utf-8")
    return the_plan, text

"""A plan rendered as CI jobs: the GitHub Actions matrix and the GitLab child pipeline.

The plan (:mod:`cipub.policy.plan`) knows nothing of CI; whoever needs a rendering calls one of these
with a :class:`~cipub.policy.plan.Plan`:

* :func:`render_github_matrix` -- ``{"include": [...]}`` for ``strategy.matrix`` (``cipub plan
  --format github`` and the ``matrix`` output of ``cipub ci report-plan``);

Both run one CI job per job of the plan (``Plan.jobs``): a cell of its own, or under conda-smithy's
grouping several cells that ``cipub build --only JOB`` builds in one engine run. An entry's ``id``
is what ``--only`` takes either way, so the templates need not know which it is.
* :func:`render_gitlab_child_pipeline` -- the child pipeline the GitLab include triggers (``cipub
  plan --format gitlab`` and ``cipub ci gitlab-pipeline``), one renderer for both, so what users
  read is what the include runs. :func:`gitlab_include_text` is the include itself.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from cipub.core.errors import UsageError
from cipub.core.secrets import CREDENTIAL_LIKE_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from cipub.policy.plan import Plan, PlanCell

#: GitHub Actions refuses a matrix with more jobs than this
GITHUB_MAX_JOBS = 256


# -- GitHub Actions matrix ---------------------------------------------------------------------------


def _variant_text(variant: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(variant.items()))


def _shared_variant(cells: Sequence[PlanCell]) -> dict[str, str]:
    """The values every one of ``cells`` has (a job's variant)."""
    first = cells[0].variant
    return {k: v for k, v in first.items() if all(c.variant.get(k) == v for c in cells[1:])}


def render_github_matrix(plan: Plan) -> str:
    """``{"include": [...]}`` for ``strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}``.

    One entry per job of the plan; ``id`` is the ``--only`` of its build, ``cells`` the cells it builds.
    """
    jobs = plan.jobs
    if len(jobs) > GITHUB_MAX_JOBS:
        raise UsageError(
            f"the plan has {len(jobs)} jobs; a GitHub Actions matrix takes at most {GITHUB_MAX_JOBS}",
            hint="plan each platform separately (--platform) and use one matrix job per platform",
        )
    include = []
    by_job = plan.cells_by_job()
    for job in jobs:
        cells = by_job[job]
        cell = cells[0]
        include.append(
            {
                "id": job,
                "platform": cell.platform,
                "runner": cell.runner,
                "noarch": cell.noarch or "",
                "variant": _variant_text(_shared_variant(cells)),
                "cells": ",".join(c.id for c in cells),
            }
        )
    return json.dumps({"include": include}, separators=(",", ":")) + "\n"


# -- GitLab child pipeline ---------------------------------------------------------------------------
#
# The include (``cipub/templates/gitlab/cipub.yml``, shipped as ``gitlab-ci/cipub.yml``) runs
# ``cipub plan``, then ``cipub ci gitlab-pipeline``, which writes the pipeline below with
# ``yaml.safe_dump`` (plan values are data in it, never script text). GitLab runs it as a child
# pipeline (``trigger: include: artifact:``) with the include's variables forwarded. A child
# pipeline because the matrix is known only after planning; publish, verify and promote live in it
# too, because a parent pipeline cannot read its child's artifacts.

PROMOTE_WHEN = ("manual", "on_success", "never")
VERIFY_MODES = ("install", "isolated", "files")
#: the include's ``attest`` input: sign keyless in the publish job (``keyless`` = ``sigstore``), or not
ATTEST_SIGN = ("sigstore", "keyless")
ATTEST_OFF = ("none", "")
#: GitLab refuses a parallel:matrix of more jobs than this
GITLAB_MAX_MATRIX = 200
CHILD_PLAN_FILE = "cipub-plan.json"


def gitlab_include_text() -> str:
    """The shipped include / component (also what ``cipub ci init gitlab`` vendors)."""
    return resources.files("cipub").joinpath("templates/gitlab/cipub.yml").read_text(encoding="utf-8")


def gitlab_install_script() -> list[str]:
    """The include's ``before_script`` (install cipub), so child jobs install it the same way."""
    import yaml  # only the GitLab pipeline needs it; every command imports this module (reports)

    documents = list(yaml.safe_load_all(gitlab_include_text()))
    before = documents[1][".cipub"]["before_script"]
    return [str(line) for line in before]


def unset_secrets_script() -> str:
    """A shell line that unsets every variable holding (or named like) a credential. GitLab hands
    project CI/CD variables to every job, build cells included, so a cell drops them before it
    installs anything: the build job's own steps (pip, the recipe) never see a publish token."""
    names = r"env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E -i " + shlex.quote(CREDENTIAL_LIKE_NAMES)
    return f'for cipub_name in $({names}); do unset "$cipub_name" 2>/dev/null || true; done; unset cipub_name'


def parse_runner_tags(text: str) -> dict[str, tuple[str, ...]]:
    """``linux-64=docker,osx-arm64=mac`` (the include's ``runner-tags``) -> {platform: tags}, read as
    the setting ``gitlab-tags`` is (a platform twice: both tags; ``PLATFORM=``: any runner)."""
    from cipub.policy.plan import parse_gitlab_tags

    items = [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
    return parse_gitlab_tags(items, source="runner tags")


def _manifests(plan: Plan) -> str:
    return " ".join(f"--manifest={shlex.quote(f'output/{job}/cipub-manifest.json')}" for job in plan.jobs)


def _build_groups(plan: Plan, overrides: Mapping[str, tuple[str, ...]]) -> list[tuple[str, tuple[str, ...], list[str]]]:
    """(job name, runner tags, the plan's job ids) of each build job of the child pipeline.

    A plan job's tags are those of the platform it runs on (its cells' ``runs_on``): the include's
    ``runner-tags`` for that platform, else the plan's (HOSTED_RUNNERS, or the setting ``gitlab-tags``).
    All alike: one ``cipub-build`` job; else one per platform, ``cipub-build-PLATFORM``, each with
    its own ``tags:`` (a matrix variable cannot leave a job untagged, nor give it several tags).
    """
    by_platform: dict[str, tuple[tuple[str, ...], list[str]]] = {}
    missing: list[str] = []
    for job, cells in plan.cells_by_job().items():
        runs_on = cells[0].runs_on
        tags = overrides.get(runs_on, cells[0].runner_tags)
        if tags is None:
            missing.append(runs_on)
            continue
        by_platform.setdefault(runs_on, (tags, []))[1].append(job)
    if missing:
        shown = ", ".join(dict.fromkeys(missing))
        raise UsageError(
            f"runner tags: no GitLab runner is known for platform {shown} (GitLab.com hosts none)",
            hint=f'name your runner\'s tag: `gitlab-tags = ["{missing[0]}=TAG"]` in the config file (or '
            f"cipub plan --gitlab-tag {missing[0]}=TAG), or the include's runner-tags input",
        )
    if len({tags for tags, _ in by_platform.values()}) <= 1:
        tags = next(iter(by_platform.values()))[0] if by_platform else ()
        return [("cipub-build", tags, plan.jobs)]
    return [(f"cipub-build-{platform}", tags, jobs) for platform, (tags, jobs) in by_platform.items()]


def gitlab_child_pipeline(
    plan: Plan,
    *,
    promote_when: str = "manual",
    environment: str = "conda-main",
    verify: str = "install",
    runner_tags: Mapping[str, tuple[str, ...]] | None = None,
    attest: str = "sigstore",
) -> dict[str, Any]:
    attest = attest.strip()
    if attest not in ATTEST_SIGN + ATTEST_OFF:
        raise UsageError(f"attest {attest!r}: choose sigstore (sign keyless) or none")
    if promote_when not in PROMOTE_WHEN:
        raise UsageError(f"promote-when {promote_when!r}: choose one of {', '.join(PROMOTE_WHEN)}")
    if verify not in VERIFY_MODES:
        raise UsageError(f"verify {verify!r}: choose one of {', '.join(VERIFY_MODES)}")
    if not plan.cells:
        raise UsageError(f"the plan for {plan.recipe} has no cells: nothing to build")
    if len(plan.jobs) > GITLAB_MAX_MATRIX:
        raise UsageError(
            f"the plan has {len(plan.jobs)} jobs; a GitLab parallel:matrix takes at most {GITLAB_MAX_MATRIX}",
            hint="plan each platform in its own pipeline (inputs: platforms)",
        )
    manifests = _manifests(plan)
    build_jobs: dict[str, dict[str, Any]] = {}
    for name, tags, jobs in _build_groups(plan, dict(runner_tags or {})):
        build_job: dict[str, Any] = {
            "extends": ".cipub",
            "stage": "build",
            "parallel": {"matrix": [{"CIPUBCI_CELL": jobs}]},
            "before_script": [unset_secrets_script(), *gitlab_install_script()],
            "script": [
                # The plan travels inside this pipeline: every job builds with the plan's numbers.
                f'printf %s "$CIPUBCI_PLAN_B64" | base64 -d > {CHILD_PLAN_FILE}',
                f'cipub build --plan {CHILD_PLAN_FILE} --only "$CIPUBCI_CELL" --no-upload'
                ' --output-dir "output/$CIPUBCI_CELL" -- "$CIPUBCI_RECIPE"',
            ],
            "artifacts": {"paths": ["output/"], "expire_in": "1 week"},
        }
        if tags:
            build_job["tags"] = list(tags)
        build_jobs[name] = build_job
    manifest_artifacts = {
        "paths": ["output/*/cipub-manifest.json", "output/cipub-manifest.json"],
        "reports": {"dotenv": "cipub.env"},
        "expire_in": "1 month",
    }
    publish_job: dict[str, Any] = {
        "extends": ".cipub",
        "stage": "publish",
        "needs": list(build_jobs),
        # One upload of every cell, never two publishes to the same channel at once.
        "resource_group": "cipub-publish",
        "script": [f"cipub upload {manifests}"],
        "artifacts": manifest_artifacts,
    }
    if attest in ATTEST_SIGN:
        # Only the job that signs gets an OIDC token (issue 16): the build cells run recipe code.
        # cipub's keyless signing reads it from SIGSTORE_ID_TOKEN (cipub.core.attest).
        publish_job["id_tokens"] = {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
        publish_job["script"] = [f"cipub upload --attest=keyless {manifests}"]
    document: dict[str, Any] = {
        "stages": ["build", "publish", "verify", "promote"],
        "variables": {
            # The include passes its own CIPUBCI_RECIPE down (trigger variables win over these).
            "CIPUBCI_RECIPE": plan.recipe,
            "CIPUBCI_PLAN_B64": base64.b64encode(plan.to_json().encode("utf-8")).decode("ascii"),
        },
        ".cipub": {"before_script": gitlab_install_script()},
        **build_jobs,
        "cipub-publish": publish_job,
        "cipub-verify": {
            "extends": ".cipub",
            "stage": "verify",
            "needs": ["cipub-publish"],
            "script": [f"cipub ci verify --mode={verify} {manifests}"],
        },
        "cipub-promote": {
            "extends": ".cipub",
            "stage": "promote",
            "needs": ["cipub-publish", "cipub-verify"],
            "when": promote_when,
            "environment": {"name": environment, "action": "start"},
            "resource_group": "cipub-promote",
            "script": [f"cipub promote {manifests}"],
            "artifacts": manifest_artifacts,
        },
    }
    return document


def render_gitlab_child_pipeline(plan: Plan, **options: Any) -> str:
    header = (
        f"# generated by `cipub ci gitlab-pipeline`: {len(plan.cells)} cell(s) in {len(plan.jobs)} job(s).\n"
        "# GitLab runs it as a child pipeline of the cipub include (gitlab-ci/cipub.yml).\n"
    )
    import yaml

    return header + yaml.safe_dump(gitlab_child_pipeline(plan, **options), sort_keys=False, width=1000)

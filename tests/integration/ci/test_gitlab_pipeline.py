"""The GitLab include, end to end with gitlab-ci-local (shell executor): plan -> a 2-cell build matrix
-> publish to `test` -> verify -> promote to `main`, on a local channel and on a real Quetz; the
`cipub ci init gitlab` starter the same way; and hostile input values through every input."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.ci.conftest import (
    SAMPLE_CELLS,
    SAMPLE_RECIPE,
    GitlabRun,
    copy_include,
    init_git_project,
    local_channel_state,
    no_injection_happened,
    run_gitlab_ci_local,
    write_sample_project,
)
from tests.support.quetz import QuetzServer
from tests.support.quetz_target import quetz_server, quetz_target

pytestmark = pytest.mark.integration
__all__ = ["quetz_server"]

BUILD_JOBS = [f"cipub-build: [{cell}]" for cell in SAMPLE_CELLS]


def include_project(root: Path, inputs: dict[str, str]) -> Path:
    project = write_sample_project(root / "project")
    copy_include(project)
    lines = ["include:", "  - local: ci/cipub.yml", "    inputs:"]
    lines += [f"      {key}: {json.dumps(value)}" for key, value in inputs.items()]
    (project / ".gitlab-ci.yml").write_text("\n".join(lines) + "\n")
    init_git_project(project)
    return project


def assert_passed(run_output: str, jobs: list[str]) -> None:
    for job in jobs:
        assert any(line.strip().startswith("PASS") and job in line for line in run_output.splitlines()), (
            f"job {job!r} did not pass:\n{run_output[-6000:]}"
        )


#: a canary, not a credential: the local target needs no token, it is there to be kept from the cells
CANARY = "cipubcanary-3e8d1f0a6c4b2957"
#: the recipe script (the untrusted part of a build job) fails if it sees the token; FAIL_BLUE fails a cell
CHECKS = """\
    - if env | grep -q cipubcanary; then echo "the token reached a build cell"; exit 1; fi
"""
FAIL_BLUE = """\
    - if [ "${{ flavor }}" = blue ]; then echo "blue cell fails on purpose"; exit 1; fi
"""
#: the documented way a component project tests its own component at the commit being built
COMPONENT_INCLUDE = """\
include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/cipub@$CI_COMMIT_SHA
    inputs:
      recipe: recipe
      target: {channel}
      install: none
      verify: isolated
      attest: none
"""


@dataclass
class ComponentPipeline:
    channel: Path
    failed: GitlabRun
    failed_state: dict[str, dict[str, str]]
    passed: GitlabRun


def commit(project: Path) -> None:
    git = ["git", "-c", "user.email=ci@cipub.invalid", "-c", "user.name=cipub tests"]
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "change"], cwd=project, check=True)


@pytest.fixture(scope="module")
def component_pipeline(tmp_path_factory: pytest.TempPathFactory) -> ComponentPipeline:
    """The component project's own pipeline (gitlab-ci/component laid out as its root), first with
    the blue cell failing, then fixed: two gitlab-ci-local runs serve every assertion below."""
    root = tmp_path_factory.mktemp("component")
    channel = root / "channel"
    project = write_sample_project(root / "project")
    (project / "templates").mkdir()
    shutil.copyfile(REPO / "gitlab-ci" / "component" / "templates" / "cipub.yml", project / "templates" / "cipub.yml")
    (project / ".gitlab-ci.yml").write_text(COMPONENT_INCLUDE.format(channel=json.dumps(str(channel))))
    recipe = project / "recipe" / "recipe.yaml"
    recipe.write_text(SAMPLE_RECIPE + CHECKS + FAIL_BLUE)
    init_git_project(project)
    subprocess.run(
        ["git", "remote", "add", "origin", "https://gitlab.example.com/your-group/cipub.git"], cwd=project, check=True
    )
    token = {"CIPUB_TOKEN": CANARY}
    failed = run_gitlab_ci_local(project, args=["--manual", "cipub-promote"], variables=token, home=root / "home")
    failed_state = local_channel_state(channel) if channel.exists() else {}
    failed.output += "".join(failed.job_log(job) for job in BUILD_JOBS)
    recipe.write_text(SAMPLE_RECIPE + CHECKS)
    commit(project)
    shutil.rmtree(project / ".gitlab-ci-local")
    passed = run_gitlab_ci_local(project, args=["--manual", "cipub-promote"], variables=token, home=root / "home")
    return ComponentPipeline(channel, failed, failed_state, passed)


def test_component_a_failed_cell_publishes_nothing(component_pipeline: ComponentPipeline) -> None:
    run = component_pipeline.failed
    # gitlab-ci-local runs the child pipeline as an "experimental downstream pipeline": a failed child
    # job fails the pipeline, but the trigger job (strategy: depend) still reads PASS and the exit
    # code is 0 -- GitLab itself fails the trigger job. So the job lines are what is checked here.
    assert any(line.strip() == f"FAIL  {BUILD_JOBS[1]}" for line in run.output.splitlines()), run.output[-6000:]
    assert "blue cell fails on purpose" in run.output, run.output[-6000:]
    assert_passed(run.output, ["cipub-plan", BUILD_JOBS[0]])
    assert not any(line.strip().startswith("PASS") and "cipub-publish" in line for line in run.output.splitlines())
    assert not any(component_pipeline.failed_state.values()), component_pipeline.failed_state


def test_component_end_to_end_on_a_local_channel(component_pipeline: ComponentPipeline) -> None:
    run = component_pipeline.passed
    assert run.returncode == 0, run.output[-6000:]
    assert_passed(run.output, ["cipub-plan", *BUILD_JOBS, "cipub-publish", "cipub-verify", "cipub-promote"])

    # The plan job's outputs: the matrix and the build number, for later jobs.
    plan = run.dotenv("cipub-plan")
    assert json.loads(plan["CIPUBCI_IDS"]) == SAMPLE_CELLS
    assert plan["CIPUBCI_CELLS"] == "2" and plan["CIPUBCI_BUILD_NUMBER"] == "0"

    # Publish uploaded both cells to `test`; promote moved exactly those to `main`.
    published = run.dotenv("cipub-publish")
    artifacts = json.loads(published["CIPUBCI_ARTIFACTS"])
    built = {f"{a['subdir']}/{a['filename']}": a["sha256"] for a in artifacts}
    assert len(built) == 2 and {a["variant_id"] for a in artifacts} == set(SAMPLE_CELLS)
    assert published["CIPUBCI_LABEL"] == "test"
    assert json.loads(published["CIPUBCI_STATES"]) == {"uploaded": 2}
    promoted = run.dotenv("cipub-promote")
    assert json.loads(promoted["CIPUBCI_STATES"]) == {"promoted": 2}
    assert (promoted["CIPUBCI_FROM_LABEL"], promoted["CIPUBCI_TO_LABEL"]) == ("test", "main")

    state = local_channel_state(component_pipeline.channel)
    assert state["test"] == built
    assert state["main"] == built
    assert "installed" in run.job_log("cipub-verify")

    # Only declared artifacts travelled: the builds happened in the jobs' own copies of the project.
    assert not (run.project / "output").exists()


def test_component_token_never_reaches_a_build_cell(component_pipeline: ComponentPipeline) -> None:
    for run in (component_pipeline.failed, component_pipeline.passed):
        logs = run.output + "".join(run.job_log(job) for job in BUILD_JOBS)
        assert "the token reached a build cell" not in logs
        assert CANARY not in logs, "the token was printed"
        assert not any(
            CANARY in p.read_text(errors="ignore")
            for p in (run.project / ".gitlab-ci-local" / "artifacts").rglob("*")
            if p.is_file()
        )


def test_promote_waits_for_a_person(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    project = include_project(
        tmp_path, {"recipe": "recipe", "target": str(channel), "install": "none", "attest": "none", "verify": "files"}
    )
    run = run_gitlab_ci_local(project, home=tmp_path / "home")
    assert run.returncode == 0, run.output[-6000:]
    assert_passed(run.output, ["cipub-publish", "cipub-verify"])
    state = local_channel_state(channel)
    assert len(state["test"]) == 2
    assert "main" not in state  # the manual promote job did not run


def test_include_end_to_end_on_quetz(tmp_path: Path, quetz_server: QuetzServer) -> None:
    with quetz_target(tmp_path / "quetz", server=quetz_server) as quetz:
        project = include_project(
            tmp_path,
            {"recipe": "recipe", "target": quetz.url, "install": "none", "attest": "none", "verify": "isolated"},
        )
        # The token is a (masked) CI/CD variable of the project, never an input.
        run = run_gitlab_ci_local(
            project, args=["--manual", "cipub-promote"], variables=quetz.env, home=tmp_path / "home"
        )
        assert run.returncode == 0, run.output[-6000:]
        assert_passed(run.output, ["cipub-plan", *BUILD_JOBS, "cipub-publish", "cipub-verify", "cipub-promote"])
        built = {
            f"{a['subdir']}/{a['filename']}": a["sha256"]
            for a in json.loads(run.dotenv("cipub-publish")["CIPUBCI_ARTIFACTS"])
        }
        state = quetz.state()
        assert state["test"] == built
        assert state["main"] == built
        for token in quetz.env.values():
            assert token not in run.output
            assert not any(
                token in p.read_text(errors="ignore")
                for p in (project / ".gitlab-ci-local" / "artifacts").rglob("*")
                if p.is_file()
            )


def test_ci_init_gitlab_output_builds_the_sample(tmp_path: Path, cipub: object) -> None:
    channel = tmp_path / "channel"
    project = write_sample_project(tmp_path / "project")
    result = cipub(  # type: ignore[operator]
        "ci",
        "init",
        "gitlab",
        "--recipe",
        "recipe",
        "--target",
        str(channel),
        "--image",
        "",
        "--install",
        "none",
        cwd=project,
    )
    assert result.code == 0, result.err
    init_git_project(project)
    # Offline here: verify from the label alone, unsigned (no OIDC token; CI/CD variables overriding the
    # include's defaults).
    run = run_gitlab_ci_local(
        project,
        args=["--manual", "cipub-promote"],
        variables={"CIPUBCI_VERIFY": "isolated", "CIPUBCI_ATTEST": "none"},
        home=tmp_path / "home",
    )
    assert run.returncode == 0, run.output[-6000:]
    assert_passed(run.output, ["cipub-plan", *BUILD_JOBS, "cipub-publish", "cipub-verify", "cipub-promote"])
    state = local_channel_state(channel)
    assert len(state["main"]) == 2 and state["main"] == state["test"]


#: every way a value could become code: command substitution, backticks, breaking out of quotes,
#: new lines (a second command, or a second YAML key if pasted into the file); `rm -rf ~` runs
#: against a throw-away HOME with a sentinel in it
HOSTILE = (
    '$(touch pwned-dollar) `touch pwned-backtick` "; touch pwned-quote; rm -rf ~; echo "\n'
    "touch pwned-newline\nevil: {script: [touch pwned-yaml]}"
)
#: the free-text inputs (the others only accept their `options:`), each alone with the rest valid
FREE_TEXT_INPUTS = [
    "recipe",
    "target",
    "platforms",
    "variant-config",
    "label",
    "promote-to",
    "environment",
    "runner-tags",
    "install",
    "python",
]
#: inputs whose bad value stops the plan job (the rest run further and fail, or treat it as a name)
STOPS_THE_PLAN = {"recipe", "platforms", "variant-config", "runner-tags", "install", "python"}


@pytest.mark.parametrize("name", FREE_TEXT_INPUTS)
def test_hostile_gitlab_input_is_data(tmp_path: Path, name: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "sentinel").write_text("still here")
    inputs = {
        "recipe": "recipe",
        "target": str(tmp_path / "channel"),
        "install": "none",
        "attest": "none",
        "verify": "files",
    }
    if name == "python":
        inputs["install"] = "cipub"  # so the python input is used
    inputs[name] = HOSTILE
    project = include_project(tmp_path, inputs)
    run = run_gitlab_ci_local(project, args=["--manual", "cipub-promote"], home=home)
    assert (home / "sentinel").read_text() == "still here"
    no_injection_happened(tmp_path)
    assert "cipub: internal error" not in run.output
    plan_failed = any(line.strip().startswith("FAIL") and "cipub-plan" in line for line in run.output.splitlines())
    if name in STOPS_THE_PLAN:
        assert plan_failed, run.output[-4000:]
    # Whatever got through is a name on the channel, never a file outside it.
    channel = tmp_path / "channel"
    if channel.exists():
        assert all(p.resolve().is_relative_to(channel.resolve()) for p in channel.rglob("*"))


def test_each_platform_gets_its_own_build_job_and_runner_tags(tmp_path: Path) -> None:
    """Issue 17: jobs of two platforms are two build jobs, each with its platform's runner tags
    (linux-aarch64 on GitLab.com's arm64 runner, linux-64 untagged), and publish waits for both.
    gitlab-ci-local's shell executor ignores tags, so here the aarch64 job cross-compiles on this
    machine (its recipe tests skipped); the child pipeline it ran is checked for the tags."""
    channel = tmp_path / "channel"
    inputs = {
        "recipe": "recipe",
        "target": str(channel),
        "platforms": "linux-64,linux-aarch64",
        "install": "none",
        "verify": "isolated",
        "attest": "none",
    }
    project = include_project(tmp_path, inputs)
    run = run_gitlab_ci_local(project, home=tmp_path / "home")
    assert run.returncode == 0, run.output[-6000:]
    flavors = ["flavorred", "flavorblue"]
    builds = [f"cipub-build-{p}: [{p}-{f}]" for p in ("linux-64", "linux-aarch64") for f in flavors]
    assert_passed(run.output, ["cipub-plan", *builds, "cipub-publish", "cipub-verify"])
    child = next((project / ".gitlab-ci-local").rglob("cipub-pipeline.yml"))
    document = yaml.safe_load(child.read_text())
    assert document["cipub-build-linux-aarch64"]["tags"] == ["saas-linux-small-arm64"]
    assert "tags" not in document["cipub-build-linux-64"]
    assert document["cipub-publish"]["needs"] == ["cipub-build-linux-64", "cipub-build-linux-aarch64"]
    state = local_channel_state(channel)
    assert sorted({key.split("/")[0] for key in state["test"]}) == ["linux-64", "linux-aarch64"]

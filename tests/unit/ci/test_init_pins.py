"""Issue 11 item 9: `cipub ci init github` writes a workflow that runs as written — an action reference
that exists at its ref in this repository's history, the secret name the README documents, runner
labels GitHub has today (overridable per platform)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cipub.channels import token_variable
from cipub.policy.plan import GITHUB_RUNNERS
from cipub.workflows.ci import ACTION_REF, ACTION_REPOSITORY
from tests.conftest import REPO

USES = re.compile(r"^\s*(?:- )?uses: \"?(?P<repo>[\w.-]+/[\w.-]+)/(?P<path>[\w./-]+)@(?P<ref>[^\s\"]+)\"?(?P<rest>.*)$")
PLAN_RECIPE = "package: {name: multi, version: '1.0'}\nrequirements:\n  build:\n    - ${{ compiler('c') }}\n"


def init_github(cipub: Callable[..., Any], tmp_path: Path, *args: str) -> str:
    result = cipub("ci", "init", "github", "--directory", str(tmp_path), *args)
    assert result.code == 0, result.err
    return (tmp_path / ".github" / "workflows" / "cipub.yml").read_text()


def cipub_steps(text: str) -> list[re.Match[str]]:
    found = [m for line in text.splitlines() if (m := USES.match(line)) and m["path"] == "github-actions"]
    assert found, "the workflow uses no cipub action"
    return found


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)


needs_git_history = pytest.mark.skipif(
    shutil.which("git") is None or git("rev-parse", "--git-dir").returncode != 0,
    reason="not a git checkout of cipub",
)


def test_init_references_this_project_s_action_pinned_by_commit(cipub: Callable[..., Any], tmp_path: Path) -> None:
    text = init_github(cipub, tmp_path, "--target", "https://anaconda.org/me")
    for step in cipub_steps(text):
        assert step["repo"] == ACTION_REPOSITORY
        assert re.fullmatch(r"[0-9a-f]{40}", step["ref"]), f"{step['ref']}: not pinned by a full commit sha"
        assert re.fullmatch(r"\s*# v\d+(\.\d+)*", step["rest"])
    assert "OWNER" not in text and "@v1" not in text


@needs_git_history
def test_the_pinned_action_exists_at_that_ref_and_takes_every_input_passed(
    cipub: Callable[..., Any], tmp_path: Path
) -> None:
    text = init_github(cipub, tmp_path, "--target", "https://anaconda.org/me")
    refs = {step["ref"] for step in cipub_steps(text)}
    assert refs == {ACTION_REF}
    shown = git("show", f"{ACTION_REF}:github-actions/action.yml")
    assert shown.returncode == 0, f"{ACTION_REF} has no github-actions/action.yml in this repository: {shown.stderr}"
    inputs = set(yaml.safe_load(shown.stdout)["inputs"])
    workflow = yaml.safe_load(text)
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "github-actions@" in str(step.get("uses", "")):
                assert set(step.get("with", {})) <= inputs, (name, set(step["with"]) - inputs)


@pytest.mark.parametrize(
    ("target", "secret"),
    [
        ("https://anaconda.org/me", "ANACONDA_API_TOKEN"),
        ("quetz+https://quetz.example.org/ch", "QUETZ_API_KEY"),
        ("https://prefix.dev/ch", "PREFIX_API_KEY"),
    ],
)
def test_the_secret_is_the_one_the_target_and_the_readme_name(
    cipub: Callable[..., Any], tmp_path: Path, target: str, secret: str
) -> None:
    text = init_github(cipub, tmp_path, "--target", target)
    assert set(re.findall(r"secrets\.(\w+)", text)) == {secret}
    assert f"Secret to add: {secret}" in text
    assert "CONDA_TOKEN" not in text
    assert f"`{secret}`" in (REPO / "README.md").read_text()


def test_the_readme_s_github_snippets_use_the_anaconda_secret_init_writes() -> None:
    readme = (REPO / "README.md").read_text()
    github = readme[readme.index("### GitHub Actions") : readme.index("### GitLab CI")]
    assert set(re.findall(r"secrets\.(\w+)", github)) == {"ANACONDA_API_TOKEN"}


def test_a_local_target_needs_no_secret(cipub: Callable[..., Any], tmp_path: Path) -> None:
    text = init_github(cipub, tmp_path, "--target", "./channel")
    assert "secrets." not in text
    assert "No secret needed" in text


@pytest.mark.parametrize(
    ("kind", "secret"),
    [
        ("anaconda", "ANACONDA_API_TOKEN"),
        ("psm", "PSM_TOKEN"),
        ("quetz", "QUETZ_API_KEY"),
        ("prefix", "PREFIX_API_KEY"),
        ("artifactory", "ARTIFACTORY_TOKEN"),
        ("local", ""),
        ("s3", ""),
    ],
)
def test_secret_names_are_the_variables_the_targets_read(kind: str, secret: str) -> None:
    # the README "Targets" table documents these names; the channel class reads the same first name
    assert token_variable(kind) == secret  # type: ignore[arg-type]
    module = importlib.import_module(f"cipub.channels.{kind}")
    first_names = {c.token_env[:1] for c in vars(module).values() if getattr(c, "token_env", None)}
    assert first_names <= {(secret,)}


def test_osx_64_runs_on_an_intel_runner_github_has_today() -> None:
    assert GITHUB_RUNNERS["osx-64"] == "macos-15-intel"  # macos-13 was retired on 2025-12-04
    assert "macos-13" not in GITHUB_RUNNERS.values()


def test_runner_labels_are_overridable_per_platform(cipub: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "meta.yaml").write_text(PLAN_RECIPE)
    args = ["plan", "recipe", "-p", "osx-64", "-p", "linux-64", "-f", "github", "--no-build-numbers"]
    default = cipub(*args, cwd=tmp_path)
    assert default.code == 0, default.err
    runners = {cell["platform"]: cell["runner"] for cell in yaml.safe_load(default.out)["include"]}
    assert runners == {"osx-64": "macos-15-intel", "linux-64": "ubuntu-latest"}
    overridden = cipub(*args, "--runner", "osx-64=macos-15-large", cwd=tmp_path)
    runners = {cell["platform"]: cell["runner"] for cell in yaml.safe_load(overridden.out)["include"]}
    assert runners == {"osx-64": "macos-15-large", "linux-64": "ubuntu-latest"}
    from_env = cipub(*args, cwd=tmp_path, env={"CIPUB_RUNNERS": "linux-64=self-hosted"})
    assert {c["runner"] for c in yaml.safe_load(from_env.out)["include"]} == {"macos-15-intel", "self-hosted"}
    bad = cipub(*args, "--runner", "osx64", cwd=tmp_path)
    assert bad.code == 2 and "PLATFORM=LABEL" in bad.err


def test_init_writes_runner_overrides_for_the_plan_step(cipub: Callable[..., Any], tmp_path: Path) -> None:
    text = init_github(cipub, tmp_path, "--target", "./channel", "--runner", "osx-64=macos-15-large")
    plan_step = next(s for s in yaml.safe_load(text)["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    assert plan_step["env"] == {"CIPUB_RUNNERS": "osx-64=macos-15-large"}
    bad = cipub("ci", "init", "github", "--directory", str(tmp_path / "x"), "--target", "./c", "--runner", "mac")
    assert bad.code == 2


#: every shipped file that shows this project's action, workflow or include by reference
SHOWN_REFERENCES = [
    REPO / "README.md",
    REPO / ".github" / "workflows" / "cipub.yml",
    *sorted((REPO / "github-actions" / "examples").glob("*.yml")),
    *sorted((REPO / "gitlab-ci").rglob("*.yml")),
    *sorted((REPO / "cipub" / "templates").rglob("*")),
]


@pytest.mark.parametrize("path", [p for p in SHOWN_REFERENCES if p.is_file()], ids=lambda p: str(p.relative_to(REPO)))
def test_every_shown_reference_to_this_project_is_the_pinned_one(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "OWNER/cipub" not in text
    refs = re.findall(rf"{re.escape(ACTION_REPOSITORY)}(?:/[\w./-]+)?@([\w.-]+)", text)
    refs += re.findall(rf"raw\.githubusercontent\.com/{re.escape(ACTION_REPOSITORY)}/([\w.-]+)/", text)
    refs += re.findall(rf"{re.escape(ACTION_REPOSITORY)}/archive/([\w.-]+)\.tar\.gz", text)
    assert set(refs) <= {ACTION_REF}, f"{path.name}: bump to ACTION_REF {ACTION_REF}"


def test_init_refuses_a_directory_that_does_not_exist(cipub: Callable[..., Any], tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "repo"
    result = cipub("ci", "init", "github", "--directory", str(missing), "--target", "./channel")
    assert result.code == 2, result.err
    assert "is not a directory" in result.err
    assert not (tmp_path / "no").exists()


def test_init_from_a_subdirectory_writes_at_the_repository_root(cipub: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    result = cipub("ci", "init", "github", "--target", "./channel", cwd=tmp_path / "src" / "pkg")
    assert result.code == 0, result.err
    assert (tmp_path / ".github" / "workflows" / "cipub.yml").is_file()
    assert not (tmp_path / "src" / "pkg" / ".github").exists()

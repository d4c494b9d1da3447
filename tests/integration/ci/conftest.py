"""Fixtures for the CI-template tests: a sample project with a 2-cell matrix, the composite action
installed once per session as the runner would, and gitlab-ci-local runs of a pipeline."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.github_runner import CompositeAction, runner_env
from tests.support.node_tools import gitlab_ci_local

#: a linux-64 package with one variant key: `cipub plan` gives two cells, each builds offline in ~1 s
SAMPLE_RECIPE = """\
context:
  name: cipub-ci-sample
  version: "1.0.0"

package:
  name: ${{ name }}
  version: ${{ version }}

build:
  number: 0
  script:
    - mkdir -p $PREFIX/share/${{ name }}
    - echo "${{ flavor }}" > $PREFIX/share/${{ name }}/flavor.txt
"""
SAMPLE_VARIANTS = "flavor:\n  - red\n  - blue\n"
SAMPLE_CELLS = ["linux-64-flavorred", "linux-64-flavorblue"]
#: where the dev environment's cipub lives: jobs find it on PATH, as in an image with cipub installed
VENV_BIN = Path(sys.executable).parent


def write_sample_project(root: Path) -> Path:
    (root / "recipe").mkdir(parents=True)
    (root / "recipe" / "recipe.yaml").write_text(SAMPLE_RECIPE)
    (root / "recipe" / "variants.yaml").write_text(SAMPLE_VARIANTS)
    return root


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def local_channel_state(root: Path) -> dict[str, dict[str, str]]:
    """{label: {"subdir/filename": sha256}} read from the directory and its repodata, not via cipub."""
    state: dict[str, dict[str, str]] = {}
    roots = {"main": root} | {p.name: p for p in (root / "label").glob("*") if p.is_dir()}
    for label, label_root in roots.items():
        for repodata in label_root.glob("*/repodata.json"):
            data = json.loads(repodata.read_text())
            for key in ("packages", "packages.conda"):
                for filename, record in data.get(key, {}).items():
                    path = repodata.parent / filename
                    assert path.is_file(), f"{path} is in the repodata but missing"
                    assert sha256(path) == record["sha256"]
                    state.setdefault(label, {})[f"{repodata.parent.name}/{filename}"] = record["sha256"]
    return state


def no_injection_happened(*places: Path) -> None:
    """No file the payloads' ``touch pwned...`` would create exists under ``places`` or in the repo.
    (A file *named* after a whole payload is data that reached a file name, not code that ran.)"""
    hits = [p for place in places for p in place.rglob("pwned*")]
    hits += [p for p in REPO.glob("pwned*")]
    assert not hits, f"an input was executed: {hits}"


# -- GitHub: the composite action ---------------------------------------------------------------------------


@dataclass
class ActionHarness:
    action: CompositeAction
    runner_temp: Path
    home: Path
    #: the install step's outputs, from its one real run
    installed: dict[str, str]

    def run(
        self, workdir: Path, inputs: Mapping[str, str], env: Mapping[str, str] | None = None, *, install: bool = True
    ) -> object:
        """Every step (the install step then finds cipub installed), or with ``install=False`` only
        the run step, given the install step's outputs."""
        return self.action.run(
            inputs,
            workdir=workdir,
            runner_temp=self.runner_temp,
            base_env=runner_env({"HOME": str(self.home), **(env or {})}),
            only_steps=None if install else {"run"},
            step_outputs=None if install else {"install": self.installed},
        )


@pytest.fixture(scope="session")
def action_harness(tmp_path_factory: pytest.TempPathFactory) -> ActionHarness:
    """The action with its install step already run once for real: a venv under RUNNER_TEMP with
    cipub pip-installed from the action's own checkout (later runs find it and skip the install)."""
    harness = ActionHarness(
        CompositeAction(REPO / "github-actions"),
        tmp_path_factory.mktemp("runner_temp"),
        tmp_path_factory.mktemp("home"),
        {},
    )
    workdir = tmp_path_factory.mktemp("install")
    result = harness.action.run(
        {"command": "plan"},
        workdir=workdir,
        runner_temp=harness.runner_temp,
        base_env=runner_env({"HOME": str(harness.home)}),
        only_steps={"install"},
        timeout=900,
    )
    install = result.steps[0]
    assert install.returncode == 0, f"install step failed:\n{install.stdout}\n{install.stderr}"
    cipub_exe = Path(install.outputs["cipub"])
    assert cipub_exe.is_file() and cipub_exe.is_relative_to(harness.runner_temp)
    harness.installed.update(install.outputs)
    return harness


# -- GitLab: gitlab-ci-local ----------------------------------------------------------------------------------


@dataclass
class GitlabRun:
    project: Path
    returncode: int
    output: str

    def job_log(self, job: str) -> str:
        path = self.project / ".gitlab-ci-local" / "output" / f"{job}.log"
        return path.read_text() if path.exists() else ""

    def dotenv(self, job: str) -> dict[str, str]:
        """The dotenv report a job uploaded (what GitLab would pass to later jobs)."""
        folder = self.project / ".gitlab-ci-local" / "artifacts" / job / ".gitlab-ci-reports" / "dotenv"
        values: dict[str, str] = {}
        for path in sorted(folder.glob("*")):
            for line in path.read_text().splitlines():
                key, _, value = line.partition("=")
                values[key] = value
        return values

    def artifacts(self, job: str) -> Path:
        return self.project / ".gitlab-ci-local" / "artifacts" / job


def init_git_project(project: Path) -> None:
    git = ["git", "-c", "user.email=ci@cipub.invalid", "-c", "user.name=cipub tests", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "sample project"], cwd=project, check=True)


def run_gitlab_ci_local(
    project: Path,
    *,
    args: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    home: Path,
    timeout: float = 600,
) -> GitlabRun:
    """Run the project's pipeline with the shell executor, each job in its own copy of the project
    (--shell-isolation) so only declared artifacts travel between jobs.

    ``variables`` play the role of the project's CI/CD variables (tokens go here, as masked
    variables would). GITLAB_CI=true is one of them: gitlab-ci-local sets it to "false" on purpose,
    GitLab sets it to "true".
    """
    file_vars = {"GITLAB_CI": "true", **(variables or {})}
    (project / ".gitlab-ci-local-variables.yml").write_text(
        "".join(f"{k}: {json.dumps(v)}\n" for k, v in file_vars.items())
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIPUB_", "GITHUB_", "GITLAB_", "CI_"))}
    env["HOME"] = str(home)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    command = [*gitlab_ci_local(), "--shell-isolation", "--no-artifacts-to-source", "--no-color", *args]
    proc = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return GitlabRun(project, proc.returncode, proc.stdout + proc.stderr)


def copy_include(project: Path, name: str = "ci/cipub.yml") -> Path:
    target = project / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "gitlab-ci" / "cipub.yml", target)
    return target

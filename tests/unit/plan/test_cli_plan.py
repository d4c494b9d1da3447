"""`cipub plan` on the command line: formats, output file, errors as exit codes, help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

RECIPE = """\
package:
  name: fast
  version: "2.0"
requirements:
  build:
    - {{ compiler('c') }}
  host:
    - python
  run:
    - python
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "meta.yaml").write_text(RECIPE)
    (tmp_path / "cbc.yaml").write_text("python:\n  - 3.11\n  - 3.12\nc_compiler:\n  - gcc\n")
    return tmp_path


def test_text_json_and_output_file(cipub, project: Path) -> None:  # type: ignore[no-untyped-def]
    text = cipub("plan", "recipe", "-m", "cbc.yaml", "-p", "linux-64", "--no-build-numbers", cwd=project)
    assert text.code == 0, text.err
    assert "linux-64-python3.11" in text.out and "2 cell(s)" in text.out
    result = cipub("plan", "recipe", "-m", "cbc.yaml", "-p", "linux-64", "-p", "osx-64", "-f", "json", cwd=project)
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["schema"] == 1 and plan["recipe"] == "recipe/meta.yaml"
    assert [c["id"] for c in plan["cells"]] == [
        "linux-64-python3.11",
        "linux-64-python3.12",
        "osx-64-python3.11",
        "osx-64-python3.12",
    ]
    # zero configuration: the default local channel answers the build-number question
    assert plan["build_numbers"][0]["chosen"] == 0 and plan["channel"]
    written = cipub("plan", "recipe", "-m", "cbc.yaml", "-f", "gitlab", "-o", "ci/cells.yml", cwd=project)
    assert written.code == 0 and written.out == ""
    assert "cipub-build" in yaml.safe_load((project / "ci" / "cells.yml").read_text())


def test_variant_override_and_platforms_from_config(cipub, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "cipub.toml").write_text('platforms = ["win-64"]\nvariant_config = ["cbc.yaml"]\n')
    result = cipub("plan", "recipe", "--variant", "python=3.13", "-f", "github", "--no-build-numbers", cwd=project)
    assert result.code == 0, result.err
    assert [e["id"] for e in json.loads(result.out)["include"]] == ["win-64"]


@pytest.mark.parametrize(
    ("cbc", "message"),
    [
        ("python:\n  - 3.11\n  - [\n", r"cbc\.yaml:3: invalid YAML"),
        ("python: [3.11, 3.12]\nc_compiler: [gcc]\nzip_keys: [[python, c_compiler]]\n", r"cbc\.yaml:3: zip_keys group"),
        ("python:\n  - 3.11  # [linus]\n", r"cbc\.yaml:2: selector \[linus\]: unknown name 'linus'"),
    ],
)
def test_malformed_variant_files_exit_3_with_file_and_line(cipub, project: Path, cbc: str, message: str) -> None:  # type: ignore[no-untyped-def]
    import re

    (project / "cbc.yaml").write_text(cbc)
    result = cipub("plan", "recipe", "-m", "cbc.yaml", "-p", "linux-64", cwd=project)
    assert result.code == 3
    assert re.search(message, result.err), result.err
    assert "Traceback" not in result.err + result.out


def test_usage_errors(cipub, project: Path) -> None:  # type: ignore[no-untyped-def]
    assert cipub("plan", "recipe", "-f", "yaml", cwd=project).code == 2
    assert cipub("plan", "recipe", "--variant", "python", cwd=project).code == 2
    assert cipub("plan", "recipe", "-p", "Linux 64", cwd=project).code == 2
    missing = cipub("plan", "nope", cwd=project)
    assert missing.code == 3 and "no such recipe" in missing.err


def test_channel_module_missing_plans_without_build_numbers(  # type: ignore[no-untyped-def]
    cipub, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cipub.workflows.plan as plan_workflow

    def unavailable(settings):  # type: ignore[no-untyped-def]
        raise ModuleNotFoundError("No module named 'boto3'")

    monkeypatch.setattr(plan_workflow, "open_target", unavailable)
    result = cipub("plan", "recipe", "-m", "cbc.yaml", "-f", "json", "--target", "s3://bucket/x", cwd=project)
    assert result.code == 0, result.err
    assert "planned without build numbers" in result.err
    decision = json.loads(result.out)["build_numbers"][0]
    assert decision["reason"].startswith("no channel")


def test_help_has_a_worked_example(cipub) -> None:  # type: ignore[no-untyped-def]
    result = cipub("plan", "--help")
    assert result.code == 0
    assert "Examples:" in result.out and "--only" in result.out and "fromJSON" in result.out

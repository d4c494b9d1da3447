"""The foundation's acceptance, end to end: real rattler-build builds, real cipub processes,
the local directory channel, and py-rattler installing from the result."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from cipub.core.manifest import schema
from tests.conftest import REPO
from tests.support.install import install_from
from tests.support.packages import make_package

pytestmark = pytest.mark.integration
TEMPLATE = REPO / "recipes-template" / "v1-noarch-generic"


def clean_env() -> dict[str, str]:
    """No cipub settings or CI-provider files from the environment this test suite runs in."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CIPUB_", "GITHUB_", "GITLAB_")) and k not in ("CI", "RUNNER_TEMP")
    }


def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    proc = subprocess.run(
        [sys.executable, "-m", "cipub", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"cipub {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): sha(p) for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".cipub.lock"
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(TEMPLATE, tmp_path / "recipe")
    return tmp_path


def test_zero_config_loop_installs_from_main(project: Path) -> None:
    build = run("build", "recipe", "--json", cwd=project)
    doc = json.loads(build.stdout)
    jsonschema.validate(doc, schema())
    assert [u["state"] for u in doc["uploads"]] == ["uploaded"]
    assert doc["uploads"][0]["label"] == "test"
    promoted = json.loads(run("promote", "--json", cwd=project).stdout)
    jsonschema.validate(promoted, schema())
    assert [p["state"] for p in promoted["promotions"]] == ["promoted"]

    channel = project / ".cipub" / "channel"
    prefix = project / "env"
    installed = install_from(channel.as_uri(), "hello-cipub-data", prefix)
    assert installed == ["hello-cipub-data-0.1.0-h4616a5c_0"]
    assert (prefix / "share" / "hello-cipub-data" / "hello.txt").read_text() == "hello from hello-cipub-data 0.1.0\n"


def test_rebuild_bumps_build_number_and_keeps_first_file(project: Path) -> None:
    first = json.loads(run("build", "recipe", "--json", cwd=project).stdout)["artifacts"][0]
    channel_file = project / ".cipub" / "channel" / "label" / "test" / "noarch" / first["filename"]
    before = sha(channel_file)
    second_doc = json.loads(run("build", "recipe", "--json", cwd=project).stdout)
    second = second_doc["artifacts"][0]
    assert first["build_number"] == 0 and second["build_number"] == 1
    assert second["filename"] == first["filename"].replace("_0.conda", "_1.conda")
    assert second_doc["build_numbers"][0]["channel_highest"] == 0
    repodata = json.loads((channel_file.parent / "repodata.json").read_text())["packages.conda"]
    assert repodata[second["filename"]]["build_number"] == 1
    assert sha(channel_file) == before == first["sha256"]


def test_upload_twice_skips_then_conflict_leaves_channel_identical(project: Path, tmp_path: Path) -> None:
    run("build", "recipe", "--no-upload", cwd=project)
    run("upload", cwd=project)
    again = json.loads(run("upload", "--json", cwd=project).stdout)
    assert {u["state"] for u in again["uploads"][-1:]} == {"skipped-identical"}

    built = json.loads((project / "output" / "cipub-manifest.json").read_text())["artifacts"][0]
    impostor = make_package(tmp_path / "other", "hello-cipub-data", "0.1.0", 0, build_string="h4616a5c_0", payload="x")
    assert impostor.name == built["filename"]
    channel = project / ".cipub" / "channel"
    before = tree(channel)
    conflict = run("upload", str(impostor), cwd=project, check=False)
    assert conflict.returncode == 6, conflict.stderr
    assert "different content" in conflict.stderr and "Traceback" not in conflict.stderr
    assert tree(channel) == before


def test_promote_twice_and_move(project: Path) -> None:
    doc = json.loads(run("build", "recipe", "--json", cwd=project).stdout)
    art = doc["artifacts"][0]
    run("promote", cwd=project)
    channel = project / ".cipub" / "channel"
    before = tree(channel)
    again = json.loads(run("promote", "--json", cwd=project).stdout)
    assert again["promotions"][-1]["state"] == "already-promoted"
    assert tree(channel) == before
    main = json.loads((channel / "noarch" / "repodata.json").read_text())["packages.conda"]
    assert main[art["filename"]]["sha256"] == art["sha256"]
    run("promote", "--move", cwd=project)
    test_label = json.loads((channel / "label" / "test" / "noarch" / "repodata.json").read_text())["packages.conda"]
    assert art["filename"] not in test_label
    assert (channel / "noarch" / art["filename"]).is_file()


def test_two_processes_upload_at_once_leave_a_complete_index(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    groups = []
    for group in ("a", "b"):
        pkgs = [make_package(tmp_path / group, f"pkg-{group}{i}", "1.0", 0) for i in range(12)]
        groups.append(pkgs)
    env = clean_env()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cipub", "upload", *map(str, pkgs), "--target", str(channel)],
            cwd=tmp_path / group,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for group, pkgs in zip(("a", "b"), groups)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    repodata = json.loads((channel / "label" / "test" / "noarch" / "repodata.json").read_text())["packages.conda"]
    expected = {p.name: sha(p) for pkgs in groups for p in pkgs}
    assert {fn: rec["sha256"] for fn, rec in repodata.items()} == expected


def test_every_command_help_has_an_example(project: Path) -> None:
    for command in ("build", "upload", "promote", "plan"):
        out = run(command, "--help", cwd=project).stdout
        assert "Example" in out, command
    assert run("--version", cwd=project).stdout.startswith("cipub ")

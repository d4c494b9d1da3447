"""Issue 4's acceptance flows for a remote target, through the real CLI (in-process ``cipub`` fixture).

Every flow takes a :class:`TargetHandle` and checks the server through ``handle.state()`` (the
server's own API or storage), never through cipub. Each remote target's test folder runs them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import REPO, CliResult
from tests.support.install import install_from
from tests.support.packages import make_package
from tests.support.targets import TargetHandle

TEMPLATE = REPO / "recipes-template" / "v1-noarch-generic"
RECIPE_NAME = "hello-cipub-data"
Cipub = Callable[..., CliResult]


def _args(handle: TargetHandle) -> list[str]:
    return ["--target", handle.url, *handle.extra_args]


def run_json(cipub: Cipub, handle: TargetHandle, *args: str, cwd: Path) -> dict[str, Any]:
    result = cipub(*args, *_args(handle), "--json", cwd=cwd, env=handle.env)
    assert result.code == 0, f"cipub {' '.join(args)} exited {result.code}:\n{result.err}"
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def build_upload_install_promote_rerun(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    """build -> upload to test -> install from test -> promote -> install from main; re-runs change nothing."""
    project = tmp_path / "project"
    shutil.copytree(TEMPLATE, project / "recipe")

    built = run_json(cipub, handle, "build", "recipe", cwd=project)
    [art] = built["artifacts"]
    key = f"{art['subdir']}/{art['filename']}"
    assert [(u["label"], u["state"]) for u in built["uploads"]] == [("test", "uploaded")]
    assert handle.state() == {"test": {key: art["sha256"]}}
    installed = install_from(handle.install_url("test"), RECIPE_NAME, tmp_path / "env-test")
    assert installed == [f"{RECIPE_NAME}-{art['version']}-{art['build']}"]
    assert (tmp_path / "env-test" / "share" / RECIPE_NAME / "hello.txt").read_text().startswith("hello from")

    promoted = run_json(cipub, handle, "promote", cwd=project)
    assert [(p["from_label"], p["to_label"], p["state"]) for p in promoted["promotions"]] == [
        ("test", "main", "promoted")
    ]
    after_promote = handle.state()
    assert after_promote == {"test": {key: art["sha256"]}, "main": {key: art["sha256"]}}
    assert install_from(handle.install_url("main"), RECIPE_NAME, tmp_path / "env-main") == installed

    # Every step again: exit 0, nothing changes on the server.
    again = run_json(cipub, handle, "upload", cwd=project)
    assert again["uploads"][-1]["state"] == "skipped-identical"
    again = run_json(cipub, handle, "promote", cwd=project)
    assert again["promotions"][-1]["state"] == "already-promoted"
    assert handle.state() == after_promote
    # A rebuild takes its build number from the server: the next one, never a clash.
    rebuilt = run_json(cipub, handle, "build", "recipe", "--no-upload", cwd=project)
    assert rebuilt["artifacts"][0]["build_number"] == art["build_number"] + 1
    assert handle.state() == after_promote


def conflict_exits_6_and_changes_nothing(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    first = make_package(tmp_path / "a", "clash", "1.0", 0, payload="the real one")
    other = make_package(tmp_path / "b", "clash", "1.0", 0, payload="an impostor")
    fresh = make_package(tmp_path / "c", "clash-friend", "1.0", 0)
    assert first.name == other.name
    run_json(cipub, handle, "upload", str(first), cwd=tmp_path / "a")
    run_json(cipub, handle, "promote", cwd=tmp_path / "a")
    before = handle.state()

    for label in ("test", "main", "rc"):
        result = cipub(
            "upload", str(other), str(fresh), *_args(handle), "--label", label, cwd=tmp_path / "b", env=handle.env
        )
        assert result.code == 6, result.err
        assert "different content" in result.err and "Traceback" not in result.err
        assert handle.env and all(v not in result.err + result.out for v in handle.env.values())
        # The batch stops before any write: not even the innocent file went up.
        assert handle.state() == before


def promotion_touches_only_the_manifest(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    seeds = [
        make_package(tmp_path / "seed", "lib", "0.9", 0),  # another version of the same package
        make_package(tmp_path / "seed", "lib", "1.0", 5, build_string="hseed_5"),  # same version, other build
        make_package(tmp_path / "seed", "otherpkg", "1.0", 0),  # another package
    ]
    run_json(cipub, handle, "upload", *map(str, seeds), cwd=tmp_path / "seed")
    ours = make_package(tmp_path / "ours", "lib", "1.0", 0)
    run_json(cipub, handle, "upload", str(ours), cwd=tmp_path / "ours")
    seeded = handle.state()["test"]
    assert len(seeded) == 4

    run_json(cipub, handle, "promote", cwd=tmp_path / "ours")
    state = handle.state()
    assert state["main"] == {f"noarch/{ours.name}": seeded[f"noarch/{ours.name}"]}
    assert state["test"] == seeded

    run_json(cipub, handle, "promote", "--move", cwd=tmp_path / "ours")
    state = handle.state()
    assert state["main"] == {f"noarch/{ours.name}": seeded[f"noarch/{ours.name}"]}
    assert state["test"] == {k: v for k, v in seeded.items() if k != f"noarch/{ours.name}"}

"""A feedstock whose pinning names its channels in ``channel_sources`` builds from them (py-rattler-build).

conda-forge's pinning gives every cell ``channel_sources`` (``conda-forge``); conda-smithy passes no
``-c`` for them and rattler-build takes its channels from there, refusing channels given beside
them. Here the pinning names a local channel holding the recipe's host dependency (in no other
channel), so a build that solves proves the channel was used: as a person builds a job
(``--conda-forge --pinning --only``), with the pinning alone, and as a CI job does (``--plan --only``).
The recipe's test needs the dependency too: the tests solve from the same channels.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from tests.support.packages import make_package

pytestmark = pytest.mark.integration

RECIPE = """\
package:
  name: cfsources
  version: "1.0"
build:
  number: 0
  noarch: generic
  script:
    - test -f $PREFIX/share/cfdep-host/hello.txt
    - mkdir -p $PREFIX/share/cfsources && echo "${{ libfoo }}" > $PREFIX/share/cfsources/libfoo.txt
requirements:
  host:
    - cfdep-host
  run:
    - cfdep-host
tests:
  - script:
      - test -f $PREFIX/share/cfdep-host/hello.txt
"""


def _index(root: Path) -> None:
    from rattler import Subdir
    from rattler.index import index_fs

    for subdir in ("noarch", "linux-64"):
        (root / subdir).mkdir(parents=True, exist_ok=True)
        asyncio.run(index_fs(root, target_platform=Subdir(subdir), write_zst=False, write_shards=False))


def _feedstock(root: Path) -> Path:
    deps = root / "deps"
    dependency = make_package(root / "made", "cfdep-host", "1.0", 0, files={"share/cfdep-host/hello.txt": "hi"})
    (deps / "noarch").mkdir(parents=True)
    shutil.copy(dependency, deps / "noarch" / dependency.name)
    _index(deps)
    feedstock = root / "feedstock"
    (feedstock / "recipe").mkdir(parents=True)
    (feedstock / "recipe" / "recipe.yaml").write_text(RECIPE)
    (feedstock / "conda-forge.yml").write_text("{}\n")
    (feedstock / ".ci_support").mkdir()
    (feedstock / "pinning").mkdir()
    (feedstock / "pinning" / "conda_build_config.yaml").write_text(
        f'channel_sources:\n  - {deps.as_uri()}\nlibfoo:\n  - "1"\n'
    )
    return feedstock


def _plan(cipub: Any, root: Path) -> dict[str, Any]:
    planned = cipub(
        "plan", "recipe", "--conda-forge", "--pinning", "pinning/conda_build_config.yaml",
        "-p", "linux-64", "--no-build-numbers", "--format", "json", "--output", "plan.json",
        cwd=root,
    )  # fmt: skip
    assert planned.code == 0, planned.err
    plan: dict[str, Any] = json.loads((root / "plan.json").read_text())
    assert [c["variant"]["channel_sources"] for c in plan["cells"]] == [(root.parent / "deps").as_uri()]
    return plan


def _check_built(root: Path) -> None:
    manifest = manifest_mod.load(root / "out" / "cipub-manifest.json")
    [entry] = manifest.artifacts
    package = read_artifact(manifest.artifact_path(entry))
    assert any(d.startswith("cfdep-host") for d in package.index["depends"])


PIN = ("--pinning", "pinning/conda_build_config.yaml")


@pytest.mark.parametrize(
    "how",
    [
        ("--conda-forge", *PIN, "--only", "noarch"),
        PIN,
        ("--conda-forge", *PIN),
        ("--plan", "plan.json", "--only", "noarch"),
    ],
    ids=["conda-forge-only", "pinning", "conda-forge-whole", "plan-only"],
)
def test_channel_sources_are_the_builds_channels(cipub: Any, tmp_path: Path, how: tuple[str, ...]) -> None:
    root = _feedstock(tmp_path)
    _plan(cipub, root)
    built = cipub("build", "recipe", *how, "--no-upload", "--output-dir", "out", cwd=root)
    assert built.code == 0, built.err + built.out
    assert "channel_sources and channels" not in built.err
    _check_built(root)


def test_dry_run_names_the_channel_sources(cipub: Any, tmp_path: Path) -> None:
    root = _feedstock(tmp_path)
    built = cipub("build", "recipe", *PIN, "--dry-run", "--no-upload", cwd=root)
    assert built.code == 0, built.err
    assert f"solving dependencies from {(tmp_path / 'deps').as_uri()}" in built.out


@pytest.mark.parametrize(
    ("flag", "env"), [(("-c", "conda-forge"), {}), ((), {"CIPUB_CHANNELS": "conda-forge"})], ids=["flag", "env"]
)
def test_an_explicit_other_channel_is_refused_naming_both(
    cipub: Any, tmp_path: Path, flag: tuple[str, ...], env: dict[str, str]
) -> None:
    root = _feedstock(tmp_path)
    args = ("build", "recipe", "--conda-forge", *PIN, "--no-upload", "--output-dir", "out", *flag)
    refused = cipub(*args, cwd=root, env=env)
    assert refused.code == 2, refused.err
    assert f"channel_sources: {(tmp_path / 'deps').as_uri()}" in refused.err
    assert "names others: conda-forge" in refused.err
    assert not list(root.rglob("*.conda"))


def test_the_same_channels_given_explicitly_are_no_conflict(cipub: Any, tmp_path: Path) -> None:
    root = _feedstock(tmp_path)
    same = cipub(
        "build", "recipe", *PIN, "-c", (tmp_path / "deps").as_uri(), "--no-upload", "--output-dir", "out", cwd=root
    )
    assert same.code == 0, same.err
    _check_built(root)


def test_plan_without_only_is_refused_naming_the_ids(cipub: Any, tmp_path: Path) -> None:
    root = _feedstock(tmp_path)
    _plan(cipub, root)
    refused = cipub("build", "recipe", "--plan", "plan.json", "--no-upload", "--output-dir", "out", cwd=root)
    assert refused.code == 2, refused.err
    assert "--only" in refused.err and "noarch" in refused.err
    assert not (root / "out").exists()


def test_verify_installs_from_the_channels_the_build_used(cipub: Any, tmp_path: Path) -> None:
    """conda-smithy's rule holds after the build too: the file's dependency (only in the
    channel_sources channel) resolves from there when ``cipub ci verify`` installs it."""
    root = _feedstock(tmp_path)
    _plan(cipub, root)
    target = ("--target", str(tmp_path / "published"))
    built = cipub(
        "build", "recipe", "--plan", "plan.json", "--only", "noarch", "--output-dir", "out", *target, cwd=root
    )
    assert built.code == 0, built.err + built.out
    [entry] = manifest_mod.load(root / "out" / "cipub-manifest.json").artifacts
    assert entry.channels == [(tmp_path / "deps").as_uri()]
    verified = cipub("ci", "verify", "--manifest", "out/cipub-manifest.json", *target, cwd=root)
    assert verified.code == 0, verified.err + verified.out
    assert "installed" in verified.out + verified.err
    # other channels named explicitly are refused, as the build refuses them
    other = cipub(
        "ci",
        "verify",
        "--manifest",
        "out/cipub-manifest.json",
        *target,
        cwd=root,
        env={"CIPUB_CHANNELS": "conda-forge"},
    )
    assert other.code == 2, other.err
    assert f"was built from {(tmp_path / 'deps').as_uri()}" in other.err

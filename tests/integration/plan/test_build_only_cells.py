"""A 4-cell plan built cell by cell with `cipub build --plan plan.json --only ID` (py-rattler-build).

Acceptance of the matrix workflow: every cell builds exactly its variant, all with the build number
the plan decided once from the channel, and the 4 per-cell manifests merge into one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cipub.channels import TargetOptions, open_channel
from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from tests.support.packages import make_package

pytestmark = pytest.mark.integration

# A non-noarch package that builds offline: nothing to solve, the script writes files.
RECIPE = """\
package:
  name: cells
  version: "1.0"
build:
  number: 0
  string: ${{ flavour }}_${{ size }}_h${{ hash }}_${{ build_number }}
  script:
    - mkdir -p $PREFIX/lib/python3.12/site-packages/cells
    - echo "FLAVOUR = '${{ flavour }}'; SIZE = '${{ size }}'" > $PREFIX/lib/python3.12/site-packages/cells/__init__.py
"""
VARIANTS = "flavour: [mint, lemon]\nsize: [s, l]\n"


def test_only_builds_each_cell_of_a_4_cell_plan(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(RECIPE)
    (recipe / "variants.yaml").write_text(VARIANTS)
    # the channel already has build 4 of cells 1.0: the pipeline must build 5, in every cell
    channel = open_channel(str(tmp_path / "channel"), TargetOptions())
    with channel:
        existing = make_package(tmp_path / "old", "cells", "1.0", 4, subdir="linux-64")
        channel.upload(read_artifact(existing), "main")

    planned = cipub(
        "plan",
        "recipe",
        "-p",
        "linux-64",
        "--target",
        "./channel",
        "--format",
        "json",
        "--output",
        "plan.json",
        cwd=tmp_path,
    )
    assert planned.code == 0, planned.err
    plan = json.loads((tmp_path / "plan.json").read_text())
    ids = [c["id"] for c in plan["cells"]]
    assert ids == [
        "linux-64-flavourmint-sizes",
        "linux-64-flavourmint-sizel",
        "linux-64-flavourlemon-sizes",
        "linux-64-flavourlemon-sizel",
    ]
    assert [(b["name"], b["chosen"]) for b in plan["build_numbers"]] == [("cells", 5)]
    # noarch advice at plan time: compiler-free but no python requirement -> nothing said
    assert "could be" not in planned.err

    def build(ident: str) -> Any:
        return cipub(
            "build",
            "recipe",
            "--plan",
            "plan.json",
            "--only",
            ident,
            "--no-upload",
            "--output-dir",
            f"dist/{ident}",
            "--manifest",
            f"dist/{ident}/cipub-manifest.json",
            "--target",
            "./channel",
            cwd=tmp_path,
        )

    manifests = []
    for ident in ids:
        built = build(ident)
        assert built.code == 0, built.err + built.out
        manifests.append(manifest_mod.load(tmp_path / "dist" / ident / "cipub-manifest.json"))
    # another pipeline publishes build 7 meanwhile: the plan's 5 would now sort below it, so a job of
    # this plan refuses before it builds (exit 6), rather than build and publish the planned 5
    with channel:
        other = make_package(tmp_path / "other", "cells", "1.0", 7, subdir="linux-64", payload="other")
        channel.upload(read_artifact(other), "test")
    refused = build(ids[0])
    assert refused.code == 6, refused.err + refused.out
    assert "plan plan.json is out of date" in refused.err and "now has build 7" in refused.err

    entries = [a for m in manifests for a in m.artifacts]
    assert len(entries) == 4
    assert len({a.filename for a in entries}) == 4
    assert {a.build_number for a in entries} == {5}
    for ident, m in zip(ids, manifests, strict=True):
        (entry,) = m.artifacts
        flavour, size = ident.removeprefix("linux-64-flavour").split("-size")
        assert entry.filename.startswith(f"cells-1.0-{flavour}_{size}_h") and entry.filename.endswith("_5.conda")
        assert entry.variant_id == ident
        assert entry.variant["flavour"] == flavour
        # the build used the plan's number, it did not look it up again
        assert [d.chosen for d in m.build_numbers] == [5]
    merged = manifest_mod.merge(manifests)
    assert sorted(a.filename for a in merged.artifacts) == sorted(a.filename for a in entries)
    assert all(Path(a.path).is_file() for a in merged.artifacts)
    # the packages hold only Python files and no platform requirement: the advice is given
    assert any("cells could be `noarch: python`" in n for n in manifests[0].notes)


def test_a_package_with_a_shared_library_gets_no_advice(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(
        RECIPE.replace("  string: ${{ flavour }}_${{ size }}_h${{ hash }}_${{ build_number }}\n", "").replace(
            "'${{ flavour }}'; SIZE = '${{ size }}'", "1"
        )
        + "    - printf '\\177ELF' > $PREFIX/lib/python3.12/site-packages/cells/_speed.so\n"
    )
    built = cipub("build", "recipe", "--no-upload", "--no-bump", "--output-dir", "dist", cwd=tmp_path)
    assert built.code == 0, built.err + built.out
    m = manifest_mod.load(tmp_path / "dist" / "cipub-manifest.json")
    assert len(m.artifacts) == 1
    assert not any("could be" in n for n in m.notes)

"""A meta.yaml whose variants have build numbers of their own (conda-forge's mpi/nompi idiom),
planned against a channel that holds builds and built cell by cell with conda-build, at the
command-line level (a stand-in ``conda`` records the clobber file cipub hands it): each cell gets
its own number moved up by the same offset, so the gap between the variants is kept."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cipub.channels import TargetOptions, open_channel
from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from tests.support.packages import make_package

META = """\
package:
  name: trivfeed
  version: "1.0.0"
build:
  number: {{ 100 if flavor == "vanilla" else 0 }}
  string: {{ flavor }}_{{ PKG_BUILDNUM }}
requirements:
  build:
    - {{ compiler('c') }}
"""
CELLS = {"linux-64-flavorchoc": "choc", "linux-64-flavorvanilla": "vanilla"}


def test_conda_build_cells_get_their_own_numbers_offset_together(
    cipub,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "meta.yaml").write_text(META)
    (recipe / "conda_build_config.yaml").write_text("flavor:\n  - choc\n  - vanilla\n")
    channel = open_channel(str(tmp_path / "channel"), TargetOptions())
    with channel:
        for number, flavor in ((5, "choc"), (105, "vanilla")):
            old = make_package(
                tmp_path / "old" / flavor, "trivfeed", "1.0.0", number, subdir="linux-64", noarch=None,
                build_string=f"{flavor}_{number}",
            )  # fmt: skip
            channel.upload(read_artifact(old), "main")
    # what `conda build` would make for each number: the stand-in copies the one the clobber file asks for
    for number, flavor in ((106, "choc"), (206, "vanilla")):
        make_package(
            tmp_path / "made" / str(number), "trivfeed", "1.0.0", number, subdir="linux-64", noarch=None,
            build_string=f"{flavor}_{number}",
        )  # fmt: skip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    conda = bin_dir / "conda"
    conda.write_text(
        "#!/bin/sh\n"
        'out=""; clobber=""\n'
        "while [ $# -gt 0 ]; do\n"
        '  case "$1" in --output-folder) out="$2";; --clobber-file) clobber="$2";; esac; shift\n'
        "done\n"
        "n=$(sed -n 's/^ *number: *//p' \"$clobber\")\n"
        f'echo "$n" >> {tmp_path}/clobbered\n'
        f'mkdir -p "$out/linux-64" && cp {tmp_path}/made/"$n"/pkgs/*.conda "$out/linux-64/"\n'
    )
    conda.chmod(conda.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")

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
    for ident in CELLS:
        built = cipub(
            "build", "recipe", "--plan", "plan.json", "--only", ident, "--engine", "conda-build", "--no-upload",
            "--output-dir", f"dist/{ident}", "--manifest", f"dist/{ident}/cipub-manifest.json", "--target", "./channel",
            cwd=tmp_path,
        )  # fmt: skip
        assert built.code == 0, built.err + built.out
        (entry,) = manifest_mod.load(tmp_path / "dist" / ident / "cipub-manifest.json").artifacts
        assert entry.variant_id == ident
    # conda-build was told 106 for choc and 206 for vanilla: above the channel's 105, the gap of 100 kept
    assert (tmp_path / "clobbered").read_text().split() == ["106", "206"]
    # and the plan says so per cell
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert {c["id"]: c["build_numbers"] for c in plan["cells"]} == {
        "linux-64-flavorchoc": {"trivfeed": 106},
        "linux-64-flavorvanilla": {"trivfeed": 206},
    }

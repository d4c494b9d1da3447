"""A conda-forge feedstock planned with ``--conda-forge`` and built job by job (py-rattler-build).

The plan reads the feedstock as conda-smithy does: the pinning zips ``flavour`` with ``size`` and
pins ``libfoo`` 1, and a migration in ``.ci_support/migrations`` moves ``libfoo`` to 2. Under
conda-smithy's grouping the two cells are one job. The build of that job, run as the CI templates
run it (``--plan plan.json --only JOB``, no pinning on the build machine) or as a person runs it
(``--conda-forge --only JOB``, no plan), must build exactly the plan's cells: every file carries
the plan's values in ``info/hash_input.json`` (libfoo 2, and only the zipped flavour/size pairs),
and the manifest names each file's own cell and values, and the job.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact

pytestmark = pytest.mark.integration

# Two outputs that need nothing solved: a library using libfoo only, a package using flavour and
# size only. No key is used by both, so conda-smithy builds both cells in one job.
RECIPE = """\
context:
  version: "1.0"
recipe:
  name: cfdemo
  version: ${{ version }}
build:
  number: 0
outputs:
  - package:
      name: libcfdemo
    build:
      string: libfoo${{ libfoo }}_h${{ hash }}_${{ build_number }}
      script:
        - mkdir -p $PREFIX/share/cfdemo
        - echo "${{ libfoo }}" > $PREFIX/share/cfdemo/libfoo.txt
  - package:
      name: cfdemo-flavour
    build:
      string: ${{ flavour }}_${{ size }}_h${{ hash }}_${{ build_number }}
      script:
        - mkdir -p $PREFIX/share/cfdemo-flavour
        - echo "${{ flavour }} ${{ size }}" > $PREFIX/share/cfdemo-flavour/flavour.txt
"""
PINNING = """\
libfoo:
  - "1"
flavour:
  - mint
  - lemon
size:
  - s
  - l
zip_keys:
  - [flavour, size]
"""
MIGRATION = """\
__migrator:
  kind: version
  migration_number: 1
libfoo:
  - "2"
migrator_ts: 1700000100
"""
JOB = "linux-64-job"
CELLS = {
    "linux-64-flavourmint-sizes": {"flavour": "mint", "size": "s", "libfoo": "2"},
    "linux-64-flavourlemon-sizel": {"flavour": "lemon", "size": "l", "libfoo": "2"},
}


def _feedstock(root: Path) -> Path:
    (root / "recipe").mkdir(parents=True)
    (root / "recipe" / "recipe.yaml").write_text(RECIPE)
    (root / "conda-forge.yml").write_text("os_version:\n  linux_64: cos7\n")
    (root / ".ci_support" / "migrations").mkdir(parents=True)
    (root / ".ci_support" / "migrations" / "libfoo2.yaml").write_text(MIGRATION)
    (root / "pinning").mkdir()
    (root / "pinning" / "conda_build_config.yaml").write_text(PINNING)
    return root


def _plan(cipub, root: Path) -> dict:  # type: ignore[no-untyped-def, type-arg]
    planned = cipub(
        "plan",
        "recipe",
        "--conda-forge",
        "--pinning",
        "pinning/conda_build_config.yaml",
        "-p",
        "linux-64",
        "--no-build-numbers",
        "--format",
        "json",
        "--output",
        "plan.json",
        cwd=root,
    )
    assert planned.code == 0, planned.err
    plan = json.loads((root / "plan.json").read_text())
    assert {c["id"]: c["variant"] for c in plan["cells"]} == CELLS
    assert {c["job"] for c in plan["cells"]} == {JOB}
    return plan  # type: ignore[no-any-return]


def _check_built_as_planned(root: Path, out: str) -> None:
    manifest = manifest_mod.load(root / out / "cipub-manifest.json")
    built = {a.filename: a for a in manifest.artifacts}
    # the library once (libfoo 2, the migration's), the flavoured package for each zipped pair only:
    # no mint_l or lemon_s, which the values alone, without the pinning's zip, would also make
    assert sorted(f.rsplit("_h", 1)[0] for f in built) == [
        "cfdemo-flavour-1.0-lemon_l",
        "cfdemo-flavour-1.0-mint_s",
        "libcfdemo-1.0-libfoo2",
    ]
    assert sorted(p.name for p in (root / out / "linux-64").glob("*.conda")) == sorted(built)
    for entry in manifest.artifacts:
        package = read_artifact(manifest.artifact_path(entry))
        used = {k: v for k, v in (package.hash_input or {}).items() if k != "target_platform"}
        assert used, f"{entry.filename} has no info/hash_input.json"
        # the manifest names the file's own cell, with that cell's values as the plan has them ...
        assert entry.job == JOB
        assert entry.variant == CELLS[entry.variant_id or ""]
        # ... and the builder used exactly those values for every key the file uses
        assert used == {k: entry.variant[k] for k in used}, entry.filename
    by_name = {a.name: a for a in manifest.artifacts if a.name == "libcfdemo"}
    assert by_name["libcfdemo"].variant_id == "linux-64-flavourmint-sizes"  # the cell that publishes it
    lemon = next(a for a in manifest.artifacts if "lemon" in a.filename)
    assert lemon.variant_id == "linux-64-flavourlemon-sizel"


@pytest.mark.parametrize(
    "build_env",
    [{}, {"CIPUB_PINNING": "pinning/conda_build_config.yaml"}, {"CIPUB_CONDA_FORGE": "true"}],
    ids=["plan-only", "pinning-in-env", "conda-forge-in-env-without-pinning"],
)
def test_a_ci_job_builds_its_cells_from_the_plan_with_the_migrated_values(  # type: ignore[no-untyped-def]
    cipub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build_env: dict[str, str]
) -> None:
    root = _feedstock(tmp_path / "feedstock")
    _plan(cipub, root)
    # the build step of the CI templates: the plan file and the job id. The build machine has none
    # of the feedstock's inputs; or the pinning only (a workflow-wide CIPUB_PINNING, without
    # --conda-forge: the migration is not read there); or conda-forge = true (a project setting)
    # but no pinning installed. The plan's values must decide in every case.
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    env = dict(build_env)
    if "CIPUB_PINNING" not in env:
        (root / "pinning" / "conda_build_config.yaml").unlink()
    built = cipub(
        "build", "recipe", "--plan", "plan.json", "--only", JOB, "--no-upload", "--output-dir", "out", cwd=root, env=env
    )
    assert built.code == 0, built.err + built.out
    _check_built_as_planned(root, "out")


def test_build_only_job_with_conda_forge_plans_as_cipub_plan_does(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _feedstock(tmp_path / "feedstock")
    _plan(cipub, root)
    built = cipub(
        "build",
        "recipe",
        "--conda-forge",
        "--pinning",
        "pinning/conda_build_config.yaml",
        "-p",
        "linux-64",
        "--only",
        JOB,
        "--no-upload",
        "--output-dir",
        "out",
        cwd=root,
    )
    assert built.code == 0, built.err + built.out
    _check_built_as_planned(root, "out")


def test_a_whole_feedstock_build_with_conda_forge_reads_the_pinning_and_migrations(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _feedstock(tmp_path / "feedstock")
    built = cipub(
        "build",
        "recipe",
        "--conda-forge",
        "--pinning",
        "pinning/conda_build_config.yaml",
        "-p",
        "linux-64",
        "--no-bump",
        "--no-upload",
        "--output-dir",
        "out",
        cwd=root,
    )
    assert built.code == 0, built.err + built.out
    manifest = manifest_mod.load(root / "out" / "cipub-manifest.json")
    # the migration's libfoo, and the pinning's zip (below the recipe, as conda-build reads it)
    assert sorted(a.filename.rsplit("_h", 1)[0] for a in manifest.artifacts) == [
        "cfdemo-flavour-1.0-lemon_l",
        "cfdemo-flavour-1.0-mint_s",
        "libcfdemo-1.0-libfoo2",
    ]


def test_promote_and_status_name_each_files_own_cell_and_job(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _feedstock(tmp_path / "feedstock")
    _plan(cipub, root)
    common = ("--target", "./channel")  # the default output dir: status reads its ledger there
    built = cipub("build", "recipe", "--plan", "plan.json", "--only", JOB, "--no-upload", *common, cwd=root)
    assert built.code == 0, built.err + built.out
    for command in ("upload", "promote"):
        done = cipub(command, "--manifest", "output/cipub-manifest.json", *common, cwd=root)
        assert done.code == 0, done.err + done.out
    promoted = manifest_mod.load(root / "output" / "cipub-manifest.json")
    assert {p.filename for p in promoted.promotions} == {a.filename for a in promoted.artifacts}
    cell_of = {a.filename: (a.variant_id, a.job) for a in promoted.artifacts}
    status = cipub("status", "cfdemo-flavour", "libcfdemo", "--json", *common, cwd=root)
    assert status.code == 0, status.err
    files = json.loads(status.out)["files"]
    assert {f["filename"]: (f.get("cell"), f.get("job")) for f in files} == cell_of
    lemon = next(f for f in files if "lemon" in f["filename"])
    assert (lemon["cell"], lemon["job"]) == ("linux-64-flavourlemon-sizel", JOB)
    assert "cell: linux-64-flavourlemon-sizel (job linux-64-job)" in cipub("status", *common, cwd=root).out


def test_the_gitlab_child_pipelines_build_jobs_build_the_plans_cells(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import base64
    import shlex

    import yaml

    root = _feedstock(tmp_path / "feedstock")
    _plan(cipub, root)
    written = cipub("ci", "gitlab-pipeline", "plan.json", "--output", "pipeline.yml", cwd=root)
    assert written.code == 0, written.err
    pipeline = yaml.safe_load((root / "pipeline.yml").read_text())
    build = pipeline["cipub-build"]
    (jobs,) = [m["CIPUBCI_CELL"] for m in build["parallel"]["matrix"]]
    assert jobs == [JOB]
    # run the job's script as GitLab would (no pinning, no --conda-forge on its machine)
    (root / "pinning" / "conda_build_config.yaml").unlink()
    plan_file = root / "cipub-plan.json"
    plan_file.write_bytes(base64.b64decode(pipeline["variables"]["CIPUBCI_PLAN_B64"]))
    variables = {"CIPUBCI_CELL": JOB, "CIPUBCI_RECIPE": "recipe"}
    (command,) = [line for line in build["script"] if line.startswith("cipub build ")]
    for name, value in variables.items():
        command = command.replace(f'"${name}"', value).replace(f"${name}", value)
    built = cipub(*shlex.split(command)[1:], cwd=root)
    assert built.code == 0, built.err + built.out
    _check_built_as_planned(root, f"output/{JOB}")

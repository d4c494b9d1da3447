"""conda-build / boa adapters at the command-line level: exact argv, output discovery, no conda."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cipub.core.errors import BuildFailedError, InvalidPackageError, UsageError
from cipub.engines import BuildRequest, select_engine
from cipub.engines.base import new_package_files, package_files
from cipub.engines.boa import BoaEngine
from cipub.engines.conda_build import CondaBuildEngine, conda_build_argv, overrides_document
from cipub.engines.rattler_build import RattlerBuildEngine
from cipub.recipe import load_recipe
from tests.support.packages import make_package

REPO = Path(__file__).resolve().parents[3]
V0 = REPO / "recipes-template" / "v0-noarch-python"
V1 = REPO / "recipes-template" / "v1-noarch-generic"


@pytest.fixture
def v0_recipe():  # type: ignore[no-untyped-def]
    return load_recipe(V0, target_platform="linux-64")


def test_argv_is_pinned(v0_recipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    request = BuildRequest(
        recipe=v0_recipe,
        output_dir=tmp_path / "out",
        variant_configs=(Path("/cfg/a.yaml"), Path("/cfg/b.yaml")),
        build_number=5,
        channels=("conda-forge", "https://example.org/extra"),
    )
    argv = conda_build_argv(request, Path("/tmp/clobber.yaml"))
    assert argv == [
        "conda",
        "build",
        str(V0.resolve()),
        "--no-anaconda-upload",
        "--output-folder",
        str(tmp_path / "out"),
        "-c",
        "conda-forge",
        "-c",
        "https://example.org/extra",
        "-m",
        "/cfg/a.yaml",
        "-m",
        "/cfg/b.yaml",
        "--clobber-file",
        "/tmp/clobber.yaml",
    ]


def test_argv_with_overrides_platform_and_boa(v0_recipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    request = BuildRequest(
        recipe=v0_recipe,
        output_dir=tmp_path,
        variant_configs=(Path("/cfg/pins.yaml"),),
        variant_overrides={"python": ["3.12"], "numpy": ["2.0"]},
        target_platform="linux-aarch64",
        channels=(),
    )
    argv = conda_build_argv(
        request, None, Path("/tmp/cipub_variant.yaml"), subcommand="mambabuild", conda="/opt/conda/bin/conda"
    )
    assert argv == [
        "/opt/conda/bin/conda",
        "mambabuild",
        str(V0.resolve()),
        "--no-anaconda-upload",
        "--output-folder",
        str(tmp_path),
        "-m",
        "/cfg/pins.yaml",
        "-m",
        "/tmp/cipub_variant.yaml",
    ]
    # the generated variant file pins the cell's values (and the target platform)
    assert overrides_document(request) == {
        "numpy": ["2.0"],
        "python": ["3.12"],
        "target_platform": ["linux-aarch64"],
    }


def test_output_discovery_reports_only_new_or_rewritten_packages(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "noarch").mkdir(parents=True)
    (out / "linux-64").mkdir()
    old = make_package(tmp_path / "a", "old", "1.0", 0)
    old = old.rename(out / "noarch" / old.name)
    (out / "noarch" / "repodata.json").write_text("{}")
    before = package_files(out)
    assert list(before) == [old]
    new_noarch = make_package(tmp_path / "b", "new", "1.0", 1)
    new_noarch = new_noarch.rename(out / "noarch" / new_noarch.name)
    new_linux = make_package(tmp_path / "c", "native", "1.0", 0, subdir="linux-64", tar_bz2=True)
    new_linux = new_linux.rename(out / "linux-64" / new_linux.name)
    (out / "linux-64" / "notes.txt").write_text("not a package")
    assert new_package_files(out, before) == sorted([new_noarch, new_linux])
    # a package rewritten in place (same name, new content) counts as built
    before = package_files(out)
    rewritten = make_package(tmp_path / "d", "old", "1.0", 0, payload="different")
    os.replace(rewritten, old)
    assert new_package_files(out, before) == [old]


def _fake_conda(bin_dir: Path, script: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    conda = bin_dir / "conda"
    conda.write_text("#!/bin/sh\n" + script)
    conda.chmod(conda.stat().st_mode | stat.S_IEXEC)
    return conda


def test_engine_reads_outputs_and_passes_clobber_file(
    v0_recipe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    # A stand-in `conda` records its argv and the clobber file, then "builds" a real package.
    package = make_package(tmp_path / "pkg", "hello-cipub-v0", "0.1.0", 3, build_string="py_3")
    log = tmp_path / "argv.txt"
    _fake_conda(
        tmp_path / "bin",
        f'printf "%s\\n" "$@" > {log}\n'
        'while [ "$1" != "--clobber-file" ]; do shift; done; shift\n'
        f'cat "$1" >> {log}\n'
        f"mkdir -p {tmp_path}/out/noarch && cp {package} {tmp_path}/out/noarch/\n",
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    engine = select_engine("auto", v0_recipe)
    assert isinstance(engine, CondaBuildEngine)
    built = engine.build(BuildRequest(recipe=v0_recipe, output_dir=tmp_path / "out", build_number=3))
    assert built == [tmp_path / "out" / "noarch" / package.name]
    recorded = log.read_text().splitlines()
    assert recorded[:5] == [
        "build",
        str(V0.resolve()),
        "--no-anaconda-upload",
        "--output-folder",
        str(tmp_path / "out"),
    ]
    assert "build:" in recorded and "  number: 3" in recorded


def test_failed_conda_build_quotes_the_tail(
    v0_recipe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    _fake_conda(tmp_path / "bin", 'echo "solving"; echo "PackagesNotFoundError: nope" >&2; exit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    with pytest.raises(BuildFailedError, match="exit code 1") as info:
        CondaBuildEngine().build(BuildRequest(recipe=v0_recipe, output_dir=tmp_path / "out"))
    assert "PackagesNotFoundError: nope" in info.value.message
    assert info.value.exit_code == 4


def test_a_broken_output_package_is_refused(
    v0_recipe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    _fake_conda(tmp_path / "bin", f"mkdir -p {tmp_path}/out/noarch && echo junk > {tmp_path}/out/noarch/x-1-0.conda\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    with pytest.raises(InvalidPackageError):
        CondaBuildEngine().build(BuildRequest(recipe=v0_recipe, output_dir=tmp_path / "out"))


def test_no_conda_on_path_exit_4_with_how_to_fix(
    v0_recipe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    for name in ("auto", "conda-build", "boa"):
        with pytest.raises(BuildFailedError) as info:
            select_engine(name, v0_recipe)
        assert info.value.exit_code == 4
        assert "`conda` is not on PATH" in info.value.message
        assert "conda install -c conda-forge conda-build" in (info.value.hint or "")
        assert "recipe.yaml" in (info.value.hint or "")


def test_engine_selection(v0_recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    v1 = load_recipe(V1, target_platform="linux-64")
    assert isinstance(select_engine("auto", v1), RattlerBuildEngine)
    assert select_engine("rattler-build", v1).name == "rattler-build"
    with pytest.raises(UsageError, match="unknown build engine 'condabuild'") as info:
        select_engine("condabuild", v1)
    assert info.value.hint == "did you mean 'conda-build'?"
    with pytest.raises(UsageError, match="recipe.yaml"):
        select_engine("rattler-build", v0_recipe)
    _fake_conda(tmp_path / "bin", "exit 0\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert isinstance(select_engine("boa", v0_recipe), BoaEngine)


def test_boa_warns_once(
    v0_recipe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    from cipub.engines import boa

    monkeypatch.setattr(boa, "_warned", set())
    package = make_package(tmp_path / "pkg", "x", "1", 0)
    _fake_conda(
        tmp_path / "bin",
        f'[ "$1" = mambabuild ] || exit 9\nmkdir -p {tmp_path}/out/noarch\n'
        f"[ -e {tmp_path}/out/noarch/{package.name} ] || cp {package} {tmp_path}/out/noarch/\n",
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    engine = BoaEngine()
    engine.build(BuildRequest(recipe=v0_recipe, output_dir=tmp_path / "out"))
    with pytest.raises(BuildFailedError, match="wrote no package"):
        engine.build(BuildRequest(recipe=v0_recipe, output_dir=tmp_path / "out"))
    err = capsys.readouterr().err
    assert err.count("boa (`conda mambabuild`) is archived upstream and superseded by rattler-build") == 1


def test_engine_writes_the_cell_variant_file(
    v0_recipe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    package = make_package(tmp_path / "pkg", "hello-cipub-v0", "0.1.0", 0)
    log = tmp_path / "variant.txt"
    _fake_conda(
        tmp_path / "bin",
        'for a in "$@"; do last_m="$prev"; prev="$a"; case "$last_m" in -m) m="$a";; esac; done\n'
        f'cat "$m" > {log}\n'
        f"mkdir -p {tmp_path}/out/noarch && cp {package} {tmp_path}/out/noarch/\n",
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    CondaBuildEngine().build(
        BuildRequest(recipe=v0_recipe, output_dir=tmp_path / "out", variant_overrides={"python": ["3.12.* *_cpython"]})
    )
    import yaml

    assert yaml.safe_load(log.read_text()) == {"python": ["3.12.* *_cpython"]}


def test_the_engine_gets_the_pinning_below_the_recipes_own_file_and_a_jobs_cells_as_one_zip(tmp_path: Path) -> None:
    import yaml

    from cipub.engines.base import BuildRequest, effective_variant_files
    from cipub.recipe import load_recipe

    data = Path(__file__).resolve().parents[2] / "data" / "real-classes"
    pinning = data / "pinning" / "conda_build_config.yaml"
    recipe = load_recipe(data / "pinning-below-recipe", target_platform="linux-64", pinning=pinning)
    mine = tmp_path / "mine.yaml"
    mine.write_text("python: ['3.13']\n")
    request = BuildRequest(
        recipe=recipe,
        output_dir=tmp_path / "out",
        variant_configs=(mine,),
        variant_overrides={"python": ["3.11", "3.12"], "libfoo": ["2", "2"]},
        zip_keys=(("python", "libfoo"),),
        pinning=pinning,
        target_platform="linux-64",
    )
    merged, job = effective_variant_files(request, tmp_path)
    values = yaml.safe_load(merged.read_text())
    # the recipe's own file above the pinning (libfoo 2, not 1), the -m file above both
    assert values["libfoo"] == ["2"] and values["c_compiler"] == ["gcc"] and values["python"] == ["3.13"]
    assert yaml.safe_load(job.read_text()) == {
        "python": ["3.11", "3.12"],
        "libfoo": ["2", "2"],
        "zip_keys": [["python", "libfoo"]],
    }
    # a plain build (no pinning, no migration, no job) hands the -m files through unchanged
    plain = BuildRequest(recipe=recipe, output_dir=tmp_path / "out", variant_configs=(mine,))
    assert effective_variant_files(plain, tmp_path) == [mine]


def test_a_v0_cell_reaches_conda_build_as_text_as_before(
    cipub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """conda-build reads variant values as text: a meta.yaml cell whose conda_build_config.yaml has
    an unquoted 13 and true has no typed (``native``) values, and ``--only`` hands conda-build the
    cell's values in its one variant file, as text, after the recipe's own file (no rattler-build
    job file)."""
    import json

    import yaml

    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "meta.yaml").write_text(
        'package:\n  name: typedv0\n  version: "1.0"\nbuild:\n  number: 0\n  string: v{{ vnum }}_{{ flag }}_0\n'
    )
    (recipe / "conda_build_config.yaml").write_text("vnum:\n  - 13\n  - 14\nflag:\n  - true\n")
    planned = cipub(
        "plan", "recipe", "-p", "linux-64", "--no-build-numbers", "--format", "json", "--output", "plan.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert planned.code == 0, planned.err
    cells = json.loads((tmp_path / "plan.json").read_text())["cells"]
    assert [(c["variant"], c["native"]) for c in cells] == [
        ({"vnum": "13", "flag": "true"}, {}),
        ({"vnum": "14", "flag": "true"}, {}),
    ]
    package = make_package(
        tmp_path / "pkg", "typedv0", "1.0", 0, subdir="linux-64", noarch=None, build_string="v13_true_0"
    )
    log = tmp_path / "variant-files.txt"
    _fake_conda(
        tmp_path / "bin",
        f'while [ $# -gt 0 ]; do if [ "$1" = "-m" ]; then echo "== $(basename "$2")" >> {log}; cat "$2" >> {log}; fi; '
        "shift; done\n"
        f"mkdir -p {tmp_path}/out/linux-64 && cp {package} {tmp_path}/out/linux-64/\n",
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    built = cipub(
        "build", "recipe", "--engine", "conda-build", "--plan", "plan.json", "--only", cells[0]["id"],
        "--no-upload", "--output-dir", "out",
        cwd=tmp_path,
    )  # fmt: skip
    assert built.code == 0, built.err + built.out
    given = log.read_text().split("== ")
    assert [part.splitlines()[0] for part in given if part] == ["cipub_variant.yaml"]
    assert yaml.safe_load(given[-1].split("\n", 1)[1]) == {
        "flag": ["true"],
        "target_platform": ["linux-64"],
        "vnum": ["13"],
    }


def test_conda_build_gets_the_channel_sources_as_its_channels(
    cipub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """conda-build does not read channel_sources; conda-smithy's CI setup makes them its channels.
    A meta.yaml whose conda_build_config.yaml names them gets them as -c, not the default channels."""
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "meta.yaml").write_text('package:\n  name: srcv0\n  version: "1.0"\nbuild:\n  number: 0\n')
    (recipe / "conda_build_config.yaml").write_text("channel_sources:\n  - ./mirror,conda-forge/label/dev\n")
    package = make_package(tmp_path / "pkg", "srcv0", "1.0", 0)
    log = tmp_path / "argv.txt"
    _fake_conda(
        tmp_path / "bin",
        f'printf "%s\\n" "$@" > {log}\nmkdir -p {tmp_path}/out/noarch && cp {package} {tmp_path}/out/noarch/\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    built = cipub("build", "recipe", "--engine", "conda-build", "--no-upload", "--output-dir", "out", cwd=tmp_path)
    assert built.code == 0, built.err + built.out
    argv = log.read_text().splitlines()
    channels = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-c"]
    assert channels == ["./mirror", "conda-forge/label/dev"]

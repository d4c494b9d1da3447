"""conda-build as a subprocess: ``conda build RECIPE --no-anaconda-upload --output-folder OUT ...``.

Always ``--no-anaconda-upload``: conda-build's own upload forces (``--force`` is its default) and
ignores a failed upload. The build number goes through ``--clobber-file`` holding
``{build: {number: N}}``, the only command-line route conda-build has (conda-forge does the same).
Outputs are the new package files in the output folder, checked through their ``info/index.json``.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import yaml

from cipub.core.artifact import read_artifact
from cipub.core.errors import BuildFailedError
from cipub.engines.base import (
    CONVERT_HINT,
    BuildRequest,
    effective_variant_files,
    new_package_files,
    package_files,
)

#: how much of the engine's output a failure message quotes
STDERR_TAIL_LINES = 25

CONDA_MISSING_HINT = (
    "meta.yaml needs conda-build, which is not on PyPI: install it into a conda installation "
    "(`conda install -c conda-forge conda-build`) and put `conda` on PATH; or build in a container "
    "that has it: `cipub build --container IMAGE` (e.g. a miniforge image with conda-build); or " + CONVERT_HINT
)


def conda_executable() -> str | None:
    """``conda`` on PATH, or None."""
    return shutil.which("conda")


def require_conda(engine_name: str, recipe_path: Path) -> str:
    """Path of ``conda``; BuildFailedError (exit 4) saying how to get it when it is missing."""
    conda = conda_executable()
    if conda is None:
        raise BuildFailedError(
            f"{recipe_path}: building a meta.yaml recipe needs {engine_name}, and `conda` is not on PATH",
            hint=CONDA_MISSING_HINT,
        )
    return conda


def clobber_document(build_number: int) -> dict[str, dict[str, int]]:
    return {"build": {"number": build_number}}


def overrides_document(request: BuildRequest) -> dict[str, list[str]]:
    """The variant values this build pins (``--only`` cells, ``--variant``), as a variant file."""
    variants: dict[str, list[str]] = {k: [str(v) for v in vs] for k, vs in request.variant_overrides.items()}
    if request.target_platform and "target_platform" not in variants:
        variants["target_platform"] = [request.target_platform]
    return variants


def conda_build_argv(
    request: BuildRequest,
    clobber_file: Path | None,
    variants_file: Path | None = None,
    *,
    subcommand: str = "build",
    conda: str = "conda",
) -> list[str]:
    """The exact command line for one build (pure, so tests can pin it).

    ``variants_file`` (from :func:`overrides_document`) comes after every ``-m`` file: conda-build
    lets later files win key by key, so the pinned values win.
    """
    argv = [
        conda,
        subcommand,
        str(request.recipe.directory),
        "--no-anaconda-upload",
        "--output-folder",
        str(request.output_dir),
    ]
    for channel in request.channels:
        argv += ["-c", channel]
    for config in request.variant_configs:
        argv += ["-m", str(config)]
    if variants_file is not None:
        argv += ["-m", str(variants_file)]
    if clobber_file is not None:
        argv += ["--clobber-file", str(clobber_file)]
    if not request.run_tests:
        argv.append("--no-test")  # otherwise conda-build keeps its own default (tests run)
    return argv


def run_streaming(argv: list[str], echo: Callable[[str], None] | None = None) -> tuple[int, list[str]]:
    """Run ``argv``, echo its output live (to ``echo``, else our stderr), return (exit code, last lines)."""
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,  # never a prompt in CI
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise BuildFailedError(f"cannot run {argv[0]}: {exc}", hint=CONDA_MISSING_HINT) from exc
    assert process.stdout is not None
    with process:
        for line in process.stdout:
            # stdout stays clean for --json documents; the engine's log goes to stderr.
            if echo is not None:
                echo(line.rstrip("\n"))
            else:
                sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
    return process.returncode, list(tail)


class CondaBuildEngine:
    """Build a recipe with ``conda build`` (``conda mambabuild`` for the boa subclass)."""

    name = "conda-build"
    subcommand = "build"

    def build(self, request: BuildRequest) -> list[Path]:
        conda = require_conda(self.name, request.recipe.path)
        output_dir = request.output_dir.resolve()
        # conda-build requires the output folder to exist beforehand.
        output_dir.mkdir(parents=True, exist_ok=True)
        before = package_files(output_dir)
        with tempfile.TemporaryDirectory(prefix="cipub-conda-build-") as tmp:
            clobber: Path | None = None
            if request.build_number is not None:
                clobber = Path(tmp) / "clobber.yaml"
                clobber.write_text(yaml.safe_dump(clobber_document(request.build_number)), encoding="utf-8")
            variants_file: Path | None = None
            pinned = overrides_document(request)
            if pinned:
                variants_file = Path(tmp) / "cipub_variant.yaml"
                variants_file.write_text(yaml.safe_dump(pinned, sort_keys=True), encoding="utf-8")
            request = replace(
                request,
                output_dir=output_dir,
                variant_configs=tuple(effective_variant_files(request, Path(tmp))),
            )
            argv = conda_build_argv(
                request,
                clobber,
                variants_file,
                subcommand=self.subcommand,
                conda=conda,
            )
            code, tail = run_streaming(argv, request.log)
        if code != 0:
            quoted = "\n".join(tail[-STDERR_TAIL_LINES:])
            raise BuildFailedError(
                f"`conda {self.subcommand}` failed with exit code {code} for {request.recipe.path}:\n{quoted}",
                hint="the full log is above; fix the recipe or the build environment and run again",
            )
        built = new_package_files(output_dir, before)
        if not built:
            raise BuildFailedError(f"`conda {self.subcommand}` exited 0 but wrote no package to {output_dir}")
        for path in built:
            read_artifact(path)  # a package conda-build wrote must still be a valid package
        return built

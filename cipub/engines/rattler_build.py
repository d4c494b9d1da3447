"""rattler-build, in-process through py-rattler-build: the default engine, needs no conda at all."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

from cipub.core.errors import BuildFailedError, RecipeError, UsageError
from cipub.engines.base import BuildRequest, effective_variant_files, new_package_files, package_files
from cipub.recipe import v1


class RattlerBuildEngine:
    """Build a ``recipe.yaml`` with py-rattler-build's ``build_recipes``."""

    name = "rattler-build"

    def build(self, request: BuildRequest) -> list[Path]:
        recipe = request.recipe
        if recipe.format != "v1":
            raise UsageError(
                f"{recipe.path}: rattler-build builds recipe.yaml (v1) recipes, not meta.yaml",
                hint="use --engine conda-build, or convert the recipe: "
                "`pip install conda-recipe-manager && conda-recipe-manager convert meta.yaml > recipe.yaml`",
            )
        output_dir = request.output_dir.resolve()
        output_dir.mkdir(parents=True, exist_ok=True)
        # Parse first: build_recipes only says "Failed to parse recipe", this names file and line.
        v1.parse_stage0(recipe.path)
        before = package_files(output_dir)
        with tempfile.TemporaryDirectory(prefix="cipub-rattler-build-") as scratch:
            variant_files = effective_variant_files(request, Path(scratch))
            try:
                _run_build_recipes(request, output_dir, variant_files)
            except Exception as exc:
                raise _translate(request, exc) from None
        built = new_package_files(output_dir, before)
        if not built:
            raise BuildFailedError(
                f"rattler-build produced no package for {recipe.path}",
                hint="every output may be skipped on this platform (build: skip), "
                "or the variant overrides select nothing",
            )
        return built


def _run_build_recipes(request: BuildRequest, output_dir: Path, variant_files: list[Path]) -> None:
    import rattler_build

    with warnings.catch_warnings():
        # build_recipes is deprecated upstream in favour of Stage0Recipe.render() + run_build(),
        # but only build_recipes can override the build number (build_num); the staged API cannot.
        warnings.simplefilter("ignore", DeprecationWarning)
        rattler_build.build_recipes(
            [request.recipe.path],
            output_dir=output_dir,
            build_num=request.build_number,
            variant_config=[str(p) for p in variant_files] or None,
            variant_overrides={k: [str(v) for v in vs] for k, vs in request.variant_overrides.items()} or None,
            target_platform=request.target_platform,
            channel=list(request.channels),
            test=request.tests,
            no_build_id=True,
        )


def _translate(request: BuildRequest, exc: Exception) -> Exception:
    """py-rattler-build exceptions -> cipub errors (recipe/variant problems are exit 3)."""
    import rattler_build

    recipe_path = request.recipe.path
    recipe_errors: tuple[type[Any], ...] = (
        rattler_build.RecipeParseError,
        rattler_build.VariantError,
        rattler_build.PlatformParseError,
    )
    if isinstance(exc, recipe_errors):
        return v1.recipe_error(recipe_path, exc, "rattler-build could not read the recipe or variants")
    message = v1.first_line(str(exc)) or type(exc).__name__
    if message.startswith("parse error") and request.variant_configs:
        # The recipe itself parsed a moment ago, so this is one of the variant files.
        files = ", ".join(str(p) for p in request.variant_configs)
        return RecipeError(f"cannot parse variant configuration ({files}): {message.removeprefix('parse error: ')}")
    if message == "Failed to parse recipe" or message.startswith("parse error"):
        return RecipeError(f"{recipe_path}: rattler-build could not parse the recipe: {message}")
    return BuildFailedError(
        f"rattler-build failed for {recipe_path}: {message}",
        hint="the rattler-build log above says which step failed (solving, the build script, packaging)",
    )

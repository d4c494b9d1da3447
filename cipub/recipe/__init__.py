"""What cipub must know about a recipe before building it: names, versions, build numbers, noarch.

``load_recipe(path)`` reads a v1 ``recipe.yaml`` (rendered by py-rattler-build with the variant
files: the pinning, the recipe's own, each ``-m`` file, the same files a build reads) or a v0
``meta.yaml`` (Jinja2 + ``# [selector]`` lines, see :mod:`cipub.recipe.v0`) for one target platform,
the current one by default. Any failure is a :class:`~cipub.core.errors.RecipeError` (exit 3) naming
the file, and the line when the parser says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cipub.core.errors import RecipeError
from cipub.recipe import v1
from cipub.recipe.selectors import check_platform, current_platform

RecipeFormat = Literal["v1", "v0"]
RECIPE_FILES: dict[str, RecipeFormat] = {"recipe.yaml": "v1", "meta.yaml": "v0"}

__all__ = ["RECIPE_FILES", "Recipe", "RecipeError", "RecipeFormat", "RecipeOutput", "find_recipe_file", "load_recipe"]


@dataclass(frozen=True)
class RecipeOutput:
    """One package the recipe builds for the target platform."""

    name: str
    version: str
    build_number: int
    noarch: str | None


@dataclass(frozen=True)
class Recipe:
    """A recipe read for one target platform. ``name`` etc. describe the first output."""

    path: Path
    directory: Path
    format: RecipeFormat
    outputs: tuple[RecipeOutput, ...]
    target_platform: str = ""

    @property
    def name(self) -> str:
        return self.outputs[0].name

    @property
    def version(self) -> str:
        return self.outputs[0].version

    @property
    def build_number(self) -> int:
        return self.outputs[0].build_number

    @property
    def noarch(self) -> str | None:
        return self.outputs[0].noarch

    @property
    def is_noarch(self) -> bool:
        """True when every output is noarch: the whole recipe builds once, on one platform."""
        return all(o.noarch for o in self.outputs)

    @property
    def names_versions(self) -> list[tuple[str, str]]:
        """Distinct (name, version) pairs, in output order: what build numbers are decided for."""
        seen: dict[tuple[str, str], None] = {}
        for output in self.outputs:
            seen.setdefault((output.name, output.version), None)
        return list(seen)


def find_recipe_file(path: Path) -> tuple[Path, RecipeFormat]:
    """The recipe file for a directory or file argument; RecipeError when there is none."""
    path = Path(path)
    if path.is_dir():
        for filename, fmt in RECIPE_FILES.items():
            if (path / filename).is_file():
                return path / filename, fmt
        raise RecipeError(
            f"{path}: no recipe.yaml or meta.yaml in this directory",
            hint="pass the directory that holds the recipe (see recipes-template/ for examples)",
        )
    if not path.exists():
        raise RecipeError(
            f"{path}: no such recipe file or directory",
            hint="pass the recipe's directory (holding recipe.yaml or meta.yaml) or the file itself, "
            "relative to the current directory",
        )
    if path.name in RECIPE_FILES:
        return path, RECIPE_FILES[path.name]
    if path.suffix in (".yaml", ".yml"):
        # Any other YAML file is taken as a v1 recipe unless it looks like a Jinja2 meta.yaml.
        text = path.read_text(encoding="utf-8", errors="replace")
        return path, ("v0" if "{%" in text or "{{ " in text.replace("${{", "") else "v1")
    raise RecipeError(
        f"{path}: not a recipe (expected recipe.yaml or meta.yaml)",
        hint="pass the recipe's directory or its recipe.yaml / meta.yaml",
    )


def load_recipe(
    path: Path,
    *,
    target_platform: str | None = None,
    variant_files: Sequence[Path] = (),
    pinning: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Sequence[str]] | None = None,
) -> Recipe:
    """Read ``path`` (a recipe directory or file) for ``target_platform`` (default: this machine).

    ``pinning`` and ``variant_files`` are the variant files a build would read besides the
    recipe's own (lowest first: the pinning, the recipe's own, then ``variant_files``), and
    ``overrides`` the ``--variant`` values above them all; a v1 recipe is rendered with them, as
    py-rattler-build builds it (a key only ``--variant`` defines must not fail the reading).
    """
    recipe_file, fmt = find_recipe_file(Path(path))
    recipe_file = recipe_file.resolve()
    platform = check_platform(target_platform, source="--platform") if target_platform else current_platform()
    if fmt == "v1":
        files = stacked_variant_files(recipe_file.parent, fmt, variant_files, pinning=pinning)
        outputs = _read_v1(recipe_file, platform, files, environ, pinning, overrides=overrides or {})
    else:
        outputs = _read_v0(recipe_file, platform)
    if not outputs:
        raise RecipeError(f"{recipe_file}: the recipe defines no package to build for {platform}")
    return Recipe(
        path=recipe_file,
        directory=recipe_file.parent,
        format=fmt,
        outputs=tuple(outputs),
        target_platform=platform,
    )


def own_variant_file(directory: Path, fmt: str) -> Path | None:
    """The variant file a builder reads next to the recipe on its own."""
    cbc = "conda_build_config.yaml"  # variants.CBC_NAME, without importing the variant reader (yaml)
    names = ("variants.yaml", cbc) if fmt == "v1" else (cbc,)
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def stacked_variant_files(
    directory: Path, fmt: str, variant_files: Sequence[Path], *, pinning: Path | None = None
) -> list[Path]:
    """Variant files, lowest priority first, as conda-build stacks them (``find_config_files``):
    the pinning (an exclusive config file), the recipe's own, then each ``-m`` file."""
    own = [f for f in (pinning, own_variant_file(directory, fmt)) if f is not None]
    return own + [Path(p) for p in variant_files]


def _text(value: Any, what: str, path: Path) -> str:
    if value is None or str(value).strip() == "":
        raise RecipeError(f"{path}: {what} is missing or empty")
    return str(value).strip()


def _read_v1(
    path: Path,
    platform: str,
    files: Sequence[Path],
    environ: Mapping[str, str] | None,
    pinning: Path | None,
    *,
    overrides: Mapping[str, Sequence[str]],
) -> list[RecipeOutput]:
    """Names, versions, numbers and noarch from py-rattler-build's render with the variant files.

    The first value of each key is enough for names and versions; when every output is skipped
    for it, every variant is rendered (a skip for one python must not hide the recipe).
    """
    stage0 = v1.parse_stage0(path)
    values: dict[str, list[Any]] = {}
    zips: list[list[str]] = []
    if files or overrides:
        # Only then: the variant reader brings yaml (and the meta.yaml machinery) with it, which a
        # recipe with no variant files, the common small case, does not need.
        from cipub.recipe.variants import apply_overrides, load_variant_files

        config = load_variant_files(
            files, platform, recipe_format="v1", environ=environ, lenient=[pinning] if pinning is not None else []
        )
        apply_overrides(config, overrides)
        needed = v1.referenced_keys(path, config.values)
        values = {key: values for key, values in config.values.items() if key in needed and values}
        zips = [kept for kept in ([k for k in g if k in values] for g in config.zip_keys) if len(kept) > 1]
    first = {key: values[:1] for key, values in values.items()}
    try:
        rendered = v1.render_outputs(stage0, platform, first)
        if not rendered and values:
            rendered = v1.render_outputs(stage0, platform, values, zips or None)
    except Exception as exc:  # py-rattler-build's own error types
        error = v1.recipe_error(path, exc, f"cannot render for {platform}")
        raise RecipeError(
            error.message,
            hint="give the variant files the build reads (-m FILE, --pinning FILE, or --conda-forge)",
        ) from None
    outputs: dict[str, RecipeOutput] = {}
    for variant in rendered:
        recipe = variant.recipe
        name = str(recipe.package.name)
        outputs.setdefault(
            name,
            RecipeOutput(
                name=name,
                version=str(recipe.package.version),
                build_number=int(recipe.build.number or 0),
                noarch=_noarch(recipe.build.noarch),
            ),
        )
    # Empty when every output is skipped on this platform.
    return list(outputs.values())


def _noarch(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return text if text in ("python", "generic") else None


def _neighbour_variant(path: Path, platform: str) -> dict[str, str]:
    """First values of the conda_build_config.yaml next to a meta.yaml (what conda-build reads too)."""
    from cipub.recipe.variants import CBC_NAME, load_variant_files

    cbc = path.parent / CBC_NAME
    if not cbc.is_file():
        return {}
    config = load_variant_files([cbc], platform, recipe_format="v0")
    return {key: values[0] for key, values in config.values.items() if values}


def _read_v0(path: Path, platform: str) -> list[RecipeOutput]:
    from cipub.recipe import v0

    rendered = v0.render_meta_yaml(path, platform, _neighbour_variant(path, platform))
    if _skipped(v0.section(rendered.data, "build", path=path)):
        # The first variant is skipped (say py<312 on win) but others may build: names and
        # versions do not depend on it, so read the recipe as conda-build's first pass does.
        rendered = v0.render_meta_yaml(path, platform)
    data = rendered.data
    package = v0.section(data, "package", path=path)
    build = v0.section(data, "build", path=path)
    undefined = f" (undefined: {', '.join(sorted(rendered.undefined))})" if rendered.undefined else ""
    top_name = package.get("name")
    top_version = package.get("version")
    top_number = v0.build_number_of(build, 0, path=path)
    if _skipped(build):
        return []
    outputs_data = data.get("outputs")
    if not outputs_data:
        return [
            RecipeOutput(
                name=_text(top_name, "package/name" + undefined, path),
                version=_text(top_version, "package/version" + undefined, path),
                build_number=top_number,
                noarch=v0.noarch_of(build),
            )
        ]
    if not isinstance(outputs_data, list):
        raise RecipeError(f"{path}: 'outputs' must be a list")
    outputs: list[RecipeOutput] = []
    for item in outputs_data:
        if not isinstance(item, dict):
            raise RecipeError(f"{path}: every entry of 'outputs' must be a mapping")
        out_build = v0.section(item, "build", path=path)
        if _skipped(out_build):
            continue
        outputs.append(
            RecipeOutput(
                name=_text(item.get("name"), "outputs/name" + undefined, path),
                version=_text(item.get("version") or top_version, "outputs/version" + undefined, path),
                build_number=v0.build_number_of(out_build, top_number, path=path),
                noarch=v0.noarch_of(out_build),
            )
        )
    return outputs


def _skipped(build: dict[str, Any]) -> bool:
    """``build: skip: true`` (after selectors) means: not built for this platform."""
    return str(build.get("skip", "")).strip().lower() in ("true", "yes", "1")

"""Reading a v0 ``meta.yaml`` the way conda-build does, without conda-build.

Order as in conda-build: render the Jinja2 template with a conda-build-like context (``environ``,
``os``, ``compiler()``, ``pin_compatible()``, variant values...), drop the lines whose
``# [selector]`` is false for the target platform, then parse the YAML with numbers kept as
strings (so ``version: 1.10`` stays ``"1.10"``). Functions that would need a solver or the sources
(``load_setup_py_data``, ``pin_compatible``...) are harmless stubs: cipub only needs to know names,
versions, build numbers, noarch and which variant keys the recipe uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cipub.core.errors import RecipeError
from cipub.recipe.selectors import SelectedText, select_lines, selector_namespace

if TYPE_CHECKING:  # pragma: no cover
    # Imported where a meta.yaml is rendered: plan and build import this module for its YAML loader
    # and default compilers, and a recipe.yaml must not pay for Jinja2 (a third of an import).
    import jinja2

#: conda-build's default compiler packages per platform family (``conda_build.jinja_context``)
_DEFAULT_COMPILERS = {
    "linux": {"c": "gcc", "cxx": "gxx", "fortran": "gfortran"},
    "osx": {"c": "clang", "cxx": "clangxx", "fortran": "gfortran"},
    "win": {"c": "vs2017", "cxx": "vs2017", "fortran": "flang"},
}
_DEFAULT_STDLIB = {"linux": "sysroot", "osx": "macosx_deployment_target", "win": "vs"}


class _StringNumberLoader(yaml.SafeLoader):
    """A SafeLoader that keeps ints and floats as the strings written (as conda-build's loader)."""


_StringNumberLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _FastStringNumberLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same, parsed by libyaml when PyYAML has it (large pinning files parse 10x faster)."""


_FastStringNumberLoader.yaml_implicit_resolvers = _StringNumberLoader.yaml_implicit_resolvers


def load_yaml_strings(text: str) -> Any:
    """Parse YAML keeping numbers as strings; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_StringNumberLoader)  # noqa: S506 - a SafeLoader subclass


def _make_undefined(seen: set[str]) -> type[jinja2.Undefined]:
    import jinja2

    class _RecordingUndefined(jinja2.ChainableUndefined):
        """Like conda-build's first render pass: undefined names render empty and are remembered."""

        def _record(self) -> None:
            if self._undefined_name:
                seen.add(self._undefined_name)

        def __str__(self) -> str:
            self._record()
            return ""

        def __call__(self, *args: Any, **kwargs: Any) -> _RecordingUndefined:  # type: ignore[override]
            self._record()
            return self

        def __iter__(self) -> Any:
            self._record()
            return iter(())

    return _RecordingUndefined


def default_compilers(target_platform: str) -> dict[str, str]:
    """conda-build's default ``<lang>_compiler`` values for linux and osx (windows' depend on the
    python version there, and every pinning sets them)."""
    family = _split_platform(target_platform)
    if family not in ("linux", "osx"):
        return {}
    return {f"{lang}_compiler": name for lang, name in _DEFAULT_COMPILERS[family].items()}


def _split_platform(target_platform: str) -> str:
    return target_platform.split("-", 1)[0]


def jinja_context(
    target_platform: str,
    variant: Mapping[str, Any] | None = None,
    *,
    recipe_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The names a meta.yaml template sees, close to ``conda_build.jinja_context.context_processor``."""
    variant = {k: v for k, v in (variant or {}).items() if isinstance(k, str)}
    family = _split_platform(target_platform)
    ns = selector_namespace(target_platform, variant, environ=environ, numbers=False)

    def compiler(language: str) -> str:
        default = _DEFAULT_COMPILERS.get(family, {}).get(language, language)
        name = str(variant.get(f"{language}_compiler", default))
        version = variant.get(f"{language}_compiler_version")
        pkg = f"{name}_{target_platform}"
        return f"{pkg} {version}" if version else pkg

    def stdlib(language: str) -> str:
        name = str(variant.get(f"{language}_stdlib", _DEFAULT_STDLIB.get(family, "sysroot")))
        version = variant.get(f"{language}_stdlib_version")
        pkg = f"{name}_{target_platform}"
        return f"{pkg} {version}" if version else pkg

    def cdt(package: str) -> str:
        cdt_name = variant.get("cdt_name", "cos7")
        arch = {"linux-64": "x86_64", "linux-aarch64": "aarch64", "linux-ppc64le": "ppc64le"}.get(
            target_platform, "x86_64"
        )
        return f"{package}-{cdt_name}-{variant.get('cdt_arch', arch)}"

    def pin(name: str, *args: Any, **kwargs: Any) -> str:
        # The real pins need a solved environment; the name is what planning needs.
        return name

    def empty_mapping(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    # conda-build substitutes the host python's path; a placeholder path keeps the YAML valid.
    python_var = "C:/cipub-prefix/python.exe" if family == "win" else "$PREFIX/bin/python"
    context: dict[str, Any] = dict(ns)
    context.update(
        {
            "compiler": compiler,
            "stdlib": stdlib,
            "cdt": cdt,
            "pin_compatible": pin,
            "pin_subpackage": pin,
            "load_setup_py_data": empty_mapping,
            "load_file_data": empty_mapping,
            "load_str_data": empty_mapping,
            "load_file_regex": nothing,
            "resolved_packages": lambda *a, **k: [],
            "PYTHON": python_var,
            "RECIPE_DIR": str(recipe_dir),
            "SRC_DIR": str(recipe_dir),
            "PREFIX": "$PREFIX",
            "CONDA_BUILD_SYSROOT": "",
        }
    )
    return context


@dataclass(frozen=True)
class RenderedMetaYaml:
    """A meta.yaml after Jinja and selectors, with what cipub learned on the way."""

    path: Path
    data: dict[str, Any]
    selected: SelectedText
    #: Jinja names that were not defined (rendered empty, as conda-build's lenient pass does)
    undefined: frozenset[str]


def render_meta_yaml(
    path: Path,
    target_platform: str,
    variant: Mapping[str, Any] | None = None,
    *,
    strict_selectors: bool = False,
    environ: Mapping[str, str] | None = None,
) -> RenderedMetaYaml:
    """Jinja2, then selectors, then YAML. RecipeError (exit 3) with ``FILE:LINE`` on any failure."""
    import jinja2
    import jinja2.sandbox

    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc})") from exc
    seen: set[str] = set()
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        undefined=_make_undefined(seen),
        keep_trailing_newline=True,
    )
    context = jinja_context(target_platform, variant, recipe_dir=path.parent, environ=environ)
    try:
        rendered = env.from_string(source).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise RecipeError(f"{path}:{exc.lineno}: Jinja2 syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise RecipeError(f"{path}: Jinja2 error: {exc}") from None
    except Exception as exc:  # an expression in the template failed (e.g. a bad split())
        raise RecipeError(f"{path}: Jinja2 rendering failed: {type(exc).__name__}: {exc}") from None
    namespace = selector_namespace(target_platform, variant, environ=environ)
    selected = select_lines(rendered, namespace, source=path, unknown_is_false=not strict_selectors)
    try:
        data = load_yaml_strings(selected.text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{selected.source_line(mark.line + 1)}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(
            f"{path}{where}: invalid YAML after rendering: {problem}",
            hint="fix the YAML at that line of the recipe (Jinja2 and # [selector] lines are applied first: "
            "check what they leave there)",
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping, not {type(data).__name__}")
    return RenderedMetaYaml(path=path, data=data, selected=selected, undefined=frozenset(seen))


def section(data: Mapping[str, Any], key: str, *, path: Path) -> dict[str, Any]:
    """``data[key]`` as a mapping ({} when absent); RecipeError when it is something else."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecipeError(f"{path}: '{key}' must be a mapping, not {type(value).__name__}")
    return value


def noarch_of(build: Mapping[str, Any]) -> str | None:
    """``python`` / ``generic`` / None from a build section (also legacy ``noarch_python: True``)."""
    value = build.get("noarch")
    if isinstance(value, str) and value.strip() in ("python", "generic"):
        return value.strip()
    if value is True or build.get("noarch_python") in (True, "True", "true"):
        return "python"
    return None


_NUMBER = re.compile(r"^\s*(\d+)\s*$")


def build_number_of(build: Mapping[str, Any], default: int, *, path: Path) -> int:
    value = build.get("number")
    if value is None or value == "":
        return default
    match = _NUMBER.match(str(value))
    if not match:
        raise RecipeError(f"{path}: build/number {value!r} is not a non-negative integer")
    return int(match.group(1))

"""Reading a v1 ``recipe.yaml`` through py-rattler-build (the same parser that builds it).

``Stage0Recipe.from_file`` parses; ``render`` evaluates ``${{ }}`` expressions, ``if:`` branches and
``skip:`` for one target platform. When rendering needs variant values cipub does not have yet (a
version computed from a variant key, say), a plain YAML read with ``context:`` substitution is the
fallback: it is enough to learn names, versions, build numbers and noarch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.core.errors import RecipeError
from cipub.recipe.selectors import platform_namespace

if TYPE_CHECKING:  # jinja2 and yaml serve the fallback reader and skip: only, imported there
    import jinja2

#: py-rattler-build puts spans in its messages: ``line: 3, column: 12`` or ``4:6: ...``
_SPAN_LINE = re.compile(r"line: (\d+)")
_YAML_POS = re.compile(r"(?:^|: )(\d+):(\d+): ")


def error_line(message: str) -> int | None:
    """The 1-based line a py-rattler-build error points at, if it says."""
    match = _SPAN_LINE.search(message) or _YAML_POS.search(message)
    return int(match.group(1)) if match else None


def first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else message


def recipe_error(path: Path, exc: BaseException, what: str) -> RecipeError:
    """A RecipeError ``FILE:LINE: what: detail`` from a py-rattler-build exception."""
    message = str(exc)
    line = error_line(message)
    where = f"{path}:{line}" if line else str(path)
    detail = _friendly(message)
    return RecipeError(f"{where}: {what}: {detail}")


def _friendly(message: str) -> str:
    """Pull the human part out of a Rust Debug dump (``message: "..."``) when there is one."""
    match = re.search(r'message: "((?:[^"\\]|\\.)*)"', message)
    if match:
        return match.group(1).replace('\\"', '"')
    return first_line(message).removeprefix("parse error: ")


def parse_stage0(path: Path) -> Any:
    """``Stage0Recipe.from_file``, with parse errors as RecipeError (exit 3) naming file and line."""
    from rattler_build import Stage0Recipe

    try:
        return Stage0Recipe.from_file(path)
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc})") from exc
    except Exception as exc:  # py-rattler-build raises its own exception types
        raise recipe_error(path, exc, "cannot parse recipe") from None


def render_outputs(
    stage0: Any,
    target_platform: str,
    variants: Mapping[str, list[Any]] | None = None,
    zip_keys: list[list[str]] | None = None,
) -> list[Any]:
    """Every rendered variant of every output (``RenderedVariant``) for ``target_platform``."""
    from rattler_build import PlatformConfig, RenderConfig, VariantConfig

    config = VariantConfig(dict(variants or {}), zip_keys=zip_keys) if variants else VariantConfig()
    render_config = RenderConfig(platform=PlatformConfig(target_platform=target_platform))
    rendered: list[Any] = stage0.render(config, render_config)
    return rendered


class _SubstitutionFailed(Exception):
    pass


def _evaluate_strings(value: Any, env: jinja2.Environment, context: Mapping[str, Any]) -> Any:
    """Evaluate ``${{ }}`` in every string of a YAML tree (the fallback reader)."""
    import jinja2

    if isinstance(value, str) and "${{" in value:
        try:
            return env.from_string(value).render(context)
        except jinja2.TemplateError as exc:
            raise _SubstitutionFailed(str(exc)) from exc
    if isinstance(value, list):
        return [_evaluate_strings(v, env, context) for v in value]
    if isinstance(value, dict):
        return {k: _evaluate_strings(v, env, context) for k, v in value.items()}
    return value


def read_plain(path: Path, target_platform: str) -> dict[str, Any]:
    """YAML + ``context:`` substitution, for when py-rattler-build cannot render without variants."""
    import jinja2.sandbox
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping")
    env = jinja2.sandbox.SandboxedEnvironment(
        variable_start_string="${{", variable_end_string="}}", undefined=jinja2.ChainableUndefined
    )
    context: dict[str, Any] = dict(platform_namespace(target_platform))
    stub = lambda *a, **k: ""  # noqa: E731 - compiler(), pin_subpackage()... are irrelevant here
    context.update({n: stub for n in ("compiler", "stdlib", "pin_subpackage", "pin_compatible", "cdt")})
    raw_context = data.get("context") or {}
    if isinstance(raw_context, dict):
        for key, value in raw_context.items():
            try:
                context[str(key)] = _evaluate_strings(value, env, context)
            except _SubstitutionFailed:
                context[str(key)] = value
    try:
        evaluated = _evaluate_strings({k: v for k, v in data.items() if k != "context"}, env, context)
    except _SubstitutionFailed as exc:
        raise RecipeError(f"{path}: cannot evaluate expression: {exc}") from None
    return dict(evaluated)


def _match(value: Any, spec: str) -> bool:
    """rattler-build's ``match(python, "<3.11")``: does the variant's version satisfy the spec."""
    from rattler import Version, VersionSpec

    text = str(value).split()[0].rstrip(".*") if value is not None else ""
    try:
        return bool(VersionSpec(str(spec)).matches(Version(text)))
    except Exception:  # an unparseable version matches nothing
        return False


def single_output_skipped(stage0: Any, variant: Mapping[str, Any], target_platform: str) -> bool:
    """Does a single-output recipe's ``build: skip:`` hold for this variant?

    py-rattler-build's render applies ``skip`` to the outputs of multi-output recipes but not to a
    single-output recipe's top level, which its command line does skip; cipub evaluates it the same
    way (a list of expressions, any true one skips).
    """
    if type(stage0).__name__ != "SingleOutputRecipe":
        return False
    build = stage0.to_dict().get("build") or {}
    conditions = build.get("skip") or []
    if isinstance(conditions, (str, bool)):
        conditions = [conditions]
    if not conditions:
        return False
    import jinja2.sandbox

    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    context: dict[str, Any] = dict(platform_namespace(target_platform))
    for key, value in variant.items():
        context[str(key)] = {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
    context["match"] = _match
    for condition in conditions:
        if isinstance(condition, bool):
            if condition:
                return True
            continue
        try:
            if env.compile_expression(str(condition))(**context):
                return True
        except jinja2.TemplateError:
            continue  # names rattler-build would not know either: not a reason to skip
    return False

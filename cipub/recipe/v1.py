"""Reading a v1 ``recipe.yaml`` through py-rattler-build (the same parser that builds it).

``Stage0Recipe.from_file`` parses; ``render`` evaluates ``${{ }}`` expressions (with rattler-build's
own filters), ``if:`` branches and ``skip:`` for one target platform and the variant configuration
given: the same files a build reads, so there is no second reader of v1 recipes here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cipub.core.errors import RecipeError
from cipub.core.secrets import secrets_hidden_from_environ

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


def recipe_error(path: Path, exc: BaseException, what: str, hint: str | None = None) -> RecipeError:
    """A RecipeError ``FILE:LINE: what: detail`` from a py-rattler-build exception."""
    message = str(exc)
    line = error_line(message)
    where = f"{path}:{line}" if line else str(path)
    detail = _friendly(message)
    return RecipeError(f"{where}: {what}: {detail}", hint=hint)


def _friendly(message: str) -> str:
    """Pull the human part out of a Rust Debug dump (``message: "..."``) when there is one."""
    match = re.search(r'message: "((?:[^"\\]|\\.)*)"', message)
    if match:
        return match.group(1).replace('\\"', '"')
    return first_line(message).removeprefix("parse error: ")


def parse_stage0(path: Path) -> Any:
    """``Stage0Recipe.from_file``, with parse errors as RecipeError (exit 3) naming file and line.

    Parsed once per process for the same file and content: a plan reads the recipe, then renders
    it for each platform, from the same parse (py-rattler-build's render leaves it as is).
    """
    from rattler_build import Stage0Recipe

    try:
        key = (str(path.resolve()), path.read_bytes())
        cached = _STAGE0.get(key)
        if cached is not None:
            return cached
        parsed = Stage0Recipe.from_file(path)
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc})") from exc
    except Exception as exc:  # py-rattler-build raises its own exception types
        raise recipe_error(
            path,
            exc,
            "cannot parse recipe",
            hint="fix the recipe at that line (rattler-build's recipe.yaml format: https://rattler.build/latest/reference/recipe_file/)",
        ) from None
    if len(_STAGE0) > 32:
        _STAGE0.clear()
    _STAGE0[key] = parsed
    return parsed


_STAGE0: dict[tuple[str, bytes], Any] = {}


_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_CALL = re.compile(r"\b(compiler|stdlib)\(\s*['\"]([A-Za-z0-9_-]+)['\"]")


def referenced_keys(path: Path, keys: Iterable[str]) -> set[str]:
    """The variant keys a v1 recipe can use: every key its text names (in an expression, or as a
    requirement name, ``-`` read as ``_``), and the keys behind ``compiler('c')``/``stdlib('c')``.

    A superset of what py-rattler-build reports as used, read from the text alone: handing it
    only these keys renders the same variants, without multiplying through a pinning's hundreds
    of keys it would otherwise have to look at.
    """
    known = set(keys)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc})") from exc
    found: set[str] = set()
    for token in _TOKEN.findall(text):
        for name in {token, token.replace("-", "_"), token.rstrip(".")}:
            if name in known:
                found.add(name)
    for call, language in _CALL.findall(text):
        for suffix in ("", "_version"):
            key = f"{language}_{call}{suffix}"
            if key in known:
                found.add(key)
    return found


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
    with secrets_hidden_from_environ():  # rattler-build's env.get() reads the process environment
        rendered: list[Any] = stage0.render(config, render_config)
    return rendered


def skipped_variants(stage0: Any, rendered: list[Any], target_platform: str) -> list[bool]:
    """Does a single-output recipe's ``build: skip:`` hold, for each of ``rendered``?

    py-rattler-build's render applies ``skip`` to the outputs of multi-output recipes but not to a
    single-output recipe's top level, which its command line does skip. Each condition is asked of
    rattler-build's own Jinja (minijinja, through a variant file's ``if:``, which py-rattler-build
    evaluates with the same functions: ``match()``, the platform names), seeing the variant and the
    ``context:`` values py-rattler-build rendered, with their types: ``"9" < 14`` is false and
    ``"9" > 14`` true there (a string sorts after every number), a text ``"false"`` is true. A
    condition rattler-build cannot evaluate (an undefined name, ``match()`` of an empty value or of a
    spec without an operator) does not hold, as in its build. Each distinct set of the values a
    condition can name is asked once, however many variants (cells) share it.
    """
    if type(stage0).__name__ != "SingleOutputRecipe":
        return [False] * len(rendered)
    build = stage0.to_dict().get("build") or {}
    conditions = build.get("skip") or []
    if isinstance(conditions, (str, bool)):
        conditions = [conditions]
    if not conditions:
        return [False] * len(rendered)
    if any(c is True for c in conditions):
        return [True] * len(rendered)
    texts = [str(c) for c in conditions if not isinstance(c, bool)]
    names = {name for text in texts for name in _NAME.findall(text)}
    answers: dict[frozenset[tuple[str, Any]], bool] = {}
    result: list[bool] = []
    for variant in rendered:
        values = {str(k): v for k, v in dict(getattr(variant.recipe, "context", None) or {}).items()}
        values.update({str(k): v for k, v in variant.variant.items()})
        # only scalars reach rattler-build's Jinja config (it refuses null and maps); the names a
        # condition cannot mention do not change its answer
        seen = frozenset(
            (k, (type(v).__name__, v))
            for k, v in values.items()
            if k in names and isinstance(v, (str, int, float, bool))
        )
        if seen not in answers:
            answers[seen] = any(_condition_holds(text, target_platform, {k: v for k, (_, v) in seen}) for text in texts)
        result.append(answers[seen])
    return result


#: the identifiers of a condition: a superset of the variables it reads (for the cache key only)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _condition_holds(condition: str, target_platform: str, variables: Mapping[str, Any]) -> bool:
    """One ``skip:`` expression as rattler-build's Jinja evaluates it for ``variables``; a condition
    it cannot evaluate does not hold (rattler-build's build does not skip for it)."""
    from rattler_build import JinjaConfig, PlatformConfig, VariantConfig

    # a JSON string is a YAML double-quoted scalar: the expression reaches the ``if:`` unchanged
    text = f"__cipub_skip:\n  - if: {json.dumps(condition)}\n    then: [true]\n    else: [false]\n"
    platform = PlatformConfig(
        target_platform=target_platform, build_platform=target_platform, host_platform=target_platform
    )
    try:
        config = VariantConfig.from_yaml_with_context(text, JinjaConfig(platform=platform, variant=dict(variables)))
        return bool(config.to_dict()["__cipub_skip"][0])
    except Exception:  # py-rattler-build's own error types: a condition it cannot evaluate
        return False


def typed_file_values(path: Path, target_platform: str, *, as_cbc: bool = False) -> dict[str, list[Any]] | None:
    """One variant file's values as rattler-build itself reads them for ``target_platform``, with
    their YAML types (``13`` an int, ``true`` a bool in a variants.yaml; its conda_build_config.yaml
    reader keeps block-list numbers as text), or None when rattler-build cannot read the file (a
    conda-smithy migration). cipub reads variant values as text; the type is part of the hash
    input rattler-build computes a build string from, so a build of one plan cell must hand the
    engine ``13``, not ``"13"``, to get the file name a whole-recipe build gives.

    ``as_cbc``: read it as a file named conda_build_config.yaml (the pinning, under any name):
    rattler-build tells its two readers apart by the file name, so it reads a copy of that name."""
    if as_cbc:
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory(prefix="cipub-pinning-") as scratch:
            alias = Path(scratch) / "conda_build_config.yaml"
            shutil.copyfile(path, alias)
            return typed_file_values(alias, target_platform)
    from rattler_build import JinjaConfig, PlatformConfig, VariantConfig

    try:
        config = VariantConfig.from_files_with_context(
            [path], JinjaConfig(platform=PlatformConfig(target_platform=target_platform))
        )
        loaded: dict[str, list[Any]] = config.to_dict()
    except Exception:  # py-rattler-build's own error types: the value stays text
        return None
    return loaded

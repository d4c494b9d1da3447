"""Reading a v1 ``recipe.yaml`` through py-rattler-build (the same parser that builds it).

``Stage0Recipe.from_file`` parses; ``render`` evaluates ``${{ }}`` expressions (with rattler-build's
own filters), ``if:`` branches and ``skip:`` for one target platform and the variant configuration
given: the same files a build reads, so there is no second reader of v1 recipes here.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from cipub.core.errors import RecipeError
from cipub.core.secrets import secrets_hidden_from_environ
from cipub.recipe.selectors import platform_namespace

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
        raise recipe_error(path, exc, "cannot parse recipe") from None
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


def _match(value: Any, spec: str) -> bool:
    """rattler-build's ``match(python, "<3.11")``: does the variant's version satisfy the spec."""
    text = str(value).split()[0].rstrip(".*") if value is not None else ""
    plain = _plain_match(text, str(spec))
    if plain is not None:
        return plain
    from rattler import Version, VersionSpec

    try:
        return bool(VersionSpec(str(spec)).matches(Version(text)))
    except Exception:  # an unparseable version matches nothing
        return False


_NUMERIC_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_NUMERIC_CONSTRAINT = re.compile(r"(<=|>=|==|!=|<|>)([0-9]+(?:\.[0-9]+)*)")
_ORDER: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _plain_match(version: str, spec: str) -> bool | None:
    """``match()`` for a numeric version (``3.10``) against comparisons of numeric versions joined
    by ``,`` (``>=3.8,<3.12``), where conda's version order is the order of the numbers, shorter
    versions padded with zeros (3.7 == 3.7.0); None for anything else (``3.10.*``, ``|``, letters),
    which py-rattler's VersionSpec decides (spaces too: it reads "< 3.7" its own way).

    py-rattler is imported only for those: its import was ~27 ms of a ``cipub plan`` of a recipe
    with ``skip: match(python, "<3.7")``, which takes ~60 ms in py-rattler-build (benchmark B9).
    A test checks that both give the same answers.
    """
    if not _NUMERIC_VERSION.fullmatch(version):
        return None
    have = tuple(int(p) for p in version.split("."))
    for part in spec.split(","):
        found = _NUMERIC_CONSTRAINT.fullmatch(part)
        if found is None:
            return None
        want = tuple(int(p) for p in found.group(2).split("."))
        width = max(len(have), len(want))
        padded_have = have + (0,) * (width - len(have))
        padded_want = want + (0,) * (width - len(want))
        if not _ORDER[found.group(1)](padded_have, padded_want):
            return False
    return True


_INTEGER = re.compile(r"-?[0-9]+")


def _skip_value(value: Any, *, variant: bool = False) -> Any:
    """A value as rattler-build's Jinja sees it: ``true``/``false`` are booleans, and a variant
    file's ``vc: [14]`` is the integer 14 there (``vc < 14`` compares numbers; cipub reads variant
    values as text)."""
    if isinstance(value, str):
        if variant and _INTEGER.fullmatch(value):
            return int(value)
        return {"true": True, "false": False}.get(value, value)
    return value


def single_output_skipped(stage0: Any, rendered: Any, target_platform: str) -> bool:
    """Does a single-output recipe's ``build: skip:`` hold for this rendered variant?

    py-rattler-build's render applies ``skip`` to the outputs of multi-output recipes but not to a
    single-output recipe's top level, which its command line does skip; cipub evaluates it the same
    way (a list of expressions, any true one skips), seeing the variant and the ``context:``
    values py-rattler-build rendered for it (so rattler-build's filters were applied already).
    """
    if type(stage0).__name__ != "SingleOutputRecipe":
        return False
    build = stage0.to_dict().get("build") or {}
    conditions = build.get("skip") or []
    if isinstance(conditions, (str, bool)):
        conditions = [conditions]
    if not conditions:
        return False
    context: dict[str, Any] = dict(platform_namespace(target_platform))
    for key, value in dict(getattr(rendered.recipe, "context", None) or {}).items():
        context[str(key)] = _skip_value(value)
    for key, value in rendered.variant.items():
        context[str(key)] = _skip_value(value, variant=True)
    context["match"] = _match
    for condition in conditions:
        if isinstance(condition, bool):
            if condition:
                return True
            continue
        if _condition_holds(str(condition), context):
            return True
    return False


def _condition_holds(condition: str, context: Mapping[str, Any]) -> bool:
    """One ``skip:`` expression, as Jinja evaluates it; an error (an undefined name, values that
    cannot be compared) is not a reason to skip."""
    plain = _plain_expression(condition)
    if plain is not None:
        try:
            return bool(_evaluate_plain(plain.body, context))
        except _NotEvaluable:
            return False
    import jinja2.sandbox

    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    try:
        return bool(env.compile_expression(condition)(**context))
    except (jinja2.TemplateError, TypeError):
        # names rattler-build would not know either, or values it cannot compare: not a reason to skip
        return False


class _NotEvaluable(Exception):
    """An undefined name or a comparison Python refuses: Jinja fails there too."""


#: Jinja's literal names (``true``, ``none`` ...), which Python would read as variables
_JINJA_LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "none": None,
    "True": True,
    "False": False,
    "None": None,
}
_COMPARISONS: dict[type[Any], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


@functools.lru_cache(maxsize=256)
def _plain_expression(condition: str) -> ast.Expression | None:
    """``condition`` parsed, when it is in the part of the expression language where Jinja and
    Python agree: names, string and number literals, ``and``/``or``/``not``, comparisons
    (``is`` excluded: a Jinja test), parentheses and calls of a plain name with positional
    arguments (``match(python, "<3.11")``). None for anything else (filters ``|``, ``~``,
    attributes, arithmetic, ``is`` tests): Jinja evaluates those.

    Skip conditions are nearly always plain (``win``, ``win and vc<14``, ``match(python, "<3.7")``),
    and importing Jinja for them cost ~20 ms of a ``cipub plan`` that takes ~50 ms in
    py-rattler-build (benchmark B9). A test checks that both evaluators agree.
    """
    try:
        tree = ast.parse(condition.strip(), mode="eval")
    except SyntaxError:
        return None
    for node in ast.walk(tree.body):
        if isinstance(node, ast.Compare):
            if not all(type(op) in _COMPARISONS for op in node.ops):
                return None
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.keywords:
                return None
            if any(isinstance(a, ast.Starred) for a in node.args):
                return None
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (str, int, float)) or isinstance(node.value, bool):
                return None
        elif type(node) not in _COMPARISONS and not isinstance(
            node, (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Name, ast.Load)
        ):
            return None
        if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
            return None
    return tree


def _evaluate_plain(node: ast.AST, context: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        result: Any = isinstance(node.op, ast.And)
        for value in node.values:
            result = _evaluate_plain(value, context)
            if bool(result) != isinstance(node.op, ast.And):
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        return not _evaluate_plain(node.operand, context)
    if isinstance(node, ast.Compare):
        left = _evaluate_plain(node.left, context)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate_plain(comparator, context)
            try:
                if not _COMPARISONS[type(op)](left, right):
                    return False
            except TypeError:
                raise _NotEvaluable from None
            left = right
        return True
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        func = _evaluate_plain(node.func, context)
        if not callable(func):
            raise _NotEvaluable
        try:
            return func(*(_evaluate_plain(a, context) for a in node.args))
        except TypeError:
            raise _NotEvaluable from None
    if isinstance(node, ast.Constant):
        return node.value
    assert isinstance(node, ast.Name)
    if node.id in _JINJA_LITERALS:
        return _JINJA_LITERALS[node.id]
    if node.id not in context:
        raise _NotEvaluable
    return context[node.id]

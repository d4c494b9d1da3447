"""``# [selector]`` lines, as conda-build evaluates them in meta.yaml and conda_build_config.yaml.

A selector is a Python expression over platform names (``linux``, ``osx``, ``win``, ``x86_64``,
``aarch64``...), ``target_platform``, ``py`` (``312`` for python 3.12), variant values and
``os.environ``. conda-build ``eval``s it; cipub evaluates it with a small AST walker instead, so a
recipe can never run code here, and an unknown name is a clear error (exit 3) naming file and line
rather than a silently dropped line.
"""

from __future__ import annotations

import ast
import functools
import operator
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cipub.core.errors import RecipeError, UsageError
from cipub.core.secrets import without_secrets

#: ``  - numpy  # [py>=39 and linux]`` -> body ``  - numpy``, selector ``py>=39 and linux``.
#: Only a ``#`` comment holds a selector: a bare ``[a, b]`` is a YAML flow list, not a selector.
SELECTOR_LINE = re.compile(r"^(?P<body>.*?)\s*#\s*\[(?P<selector>[^\[\]]+)\]\s*$")

#: subdirs cipub knows how to describe; anything else must at least look like ``os-arch``
KNOWN_PLATFORMS = (
    "noarch",
    "linux-32",
    "linux-64",
    "linux-aarch64",
    "linux-armv6l",
    "linux-armv7l",
    "linux-ppc64le",
    "linux-ppc64",
    "linux-s390x",
    "linux-riscv64",
    "osx-64",
    "osx-arm64",
    "win-32",
    "win-64",
    "win-arm64",
    "emscripten-wasm32",
    "wasi-wasm32",
    "zos-z",
)

_ARCH_BITS = {"32": 32, "64": 64, "aarch64": 64, "arm64": 64, "ppc64le": 64, "ppc64": 64, "s390x": 64}


#: (sys.platform prefix, platform.machine() lower-cased) -> conda subdir, as rattler's Subdir.current()
_SUBDIRS = {
    ("linux", "x86_64"): "linux-64",
    ("linux", "amd64"): "linux-64",
    ("linux", "i686"): "linux-32",
    ("linux", "i386"): "linux-32",
    ("linux", "aarch64"): "linux-aarch64",
    ("linux", "arm64"): "linux-aarch64",
    ("linux", "armv6l"): "linux-armv6l",
    ("linux", "armv7l"): "linux-armv7l",
    ("linux", "ppc64le"): "linux-ppc64le",
    ("linux", "ppc64"): "linux-ppc64",
    ("linux", "s390x"): "linux-s390x",
    ("linux", "riscv64"): "linux-riscv64",
    ("darwin", "x86_64"): "osx-64",
    ("darwin", "arm64"): "osx-arm64",
    ("win32", "amd64"): "win-64",
    ("win32", "x86_64"): "win-64",
    ("win32", "arm64"): "win-arm64",
    ("win32", "x86"): "win-32",
}


def current_platform() -> str:
    """The conda subdir of the machine cipub runs on (``linux-64``, ``osx-arm64``...).

    Known machines are named from the standard library: importing py-rattler for this alone cost
    7-16 % of a command that uploads nothing (issue 12). Anything else asks py-rattler.
    """
    import platform
    import sys

    os_name = "linux" if sys.platform.startswith("linux") else sys.platform
    known = _SUBDIRS.get((os_name, platform.machine().lower()))
    if known is not None:
        return known
    from rattler import Subdir

    return str(Subdir.current())


def check_platform(platform: str, *, source: str = "platform") -> str:
    """Return ``platform`` if it is a conda subdir rattler knows; raise UsageError otherwise."""
    if platform in KNOWN_PLATFORMS:
        return platform
    import difflib

    from rattler import Subdir  # the authority on subdir names; imported only for the unusual ones

    known = [str(p) for p in Subdir.all()]
    if platform in known:
        return platform
    close = difflib.get_close_matches(platform, known, n=1)
    raise UsageError(
        f"{source}: {platform!r} is not a conda platform",
        hint=(f"did you mean {close[0]}? " if close else "")
        + "use a subdir such as linux-64, linux-aarch64, osx-64, osx-arm64 or win-64",
    )


def platform_namespace(target_platform: str) -> dict[str, Any]:
    """The names conda-build defines for a target platform (``conda_build.metadata.ns_cfg``)."""
    os_name, _, arch = target_platform.partition("-")
    ns: dict[str, Any] = {
        "target_platform": target_platform,
        "build_platform": target_platform,
        "host_platform": target_platform,
        "subdir": target_platform,
        "linux": os_name == "linux",
        "osx": os_name == "osx",
        "win": os_name == "win",
        "unix": os_name in ("linux", "osx"),
        "emscripten": os_name == "emscripten",
        "wasi": os_name == "wasi",
        "zos": os_name == "zos",
        "noarch": target_platform == "noarch",
    }
    bits = _ARCH_BITS.get(arch, 32 if arch in ("armv6l", "armv7l") else 64)
    ns.update(
        {
            "x86": arch in ("32", "64"),
            "x86_64": arch == "64",
            "aarch64": arch == "aarch64",
            "arm64": arch == "arm64",
            "armv6l": arch == "armv6l",
            "armv7l": arch == "armv7l",
            "ppc64le": arch == "ppc64le",
            "ppc64": arch == "ppc64",
            "s390x": arch == "s390x",
            "riscv64": arch == "riscv64",
            "wasm32": arch == "wasm32",
            "arm": arch in ("armv6l", "armv7l", "aarch64", "arm64"),
        }
    )
    for name in ("linux", "osx", "win"):
        ns[f"{name}32"] = bool(ns[name]) and bits == 32
        ns[f"{name}64"] = bool(ns[name]) and bits == 64
    # conda-build's get_selectors: linux64/win64 (and the 32s) name one subdir each, so linux64 is
    # false on linux-aarch64 (aiohttp's ``use_noarch: - true  # [linux64]``)
    for name in ("linux", "win"):
        ns[f"{name}32"] = target_platform == f"{name}-32"
        ns[f"{name}64"] = target_platform == f"{name}-64"
    if os_name in ("linux", "osx", "win"):
        # conda-build also defines ``linux_aarch64``, ``osx_arm64``... for every known subdir
        for known in KNOWN_PLATFORMS:
            ns.setdefault(known.replace("-", "_"), known == target_platform)
    return ns


def _major_minor(version: str | None) -> tuple[str, str] | None:
    """The leading ``MAJOR.MINOR`` of a version (``3.12.1`` -> ``("3", "12")``), else None."""
    match = re.match(r"\s*(\d+)\.(\d+)", version) if version else None
    return (match.group(1), match.group(2)) if match else None


def python_namespace(python: str | None) -> dict[str, Any]:
    """``py`` (``312``), ``py3k``, ``py2k``, ``py26``...``py27`` as conda-build defines them."""
    parts = _major_minor(python)
    if parts is None:
        return {}
    major, minor = int(parts[0]), int(parts[1])
    py = int(f"{major}{minor}")
    return {"py": py, "py3k": major == 3, "py2k": major == 2, "py27": py == 27, "py36": py == 36}


def numpy_namespace(numpy: str | None) -> dict[str, Any]:
    """``np`` (``126`` for numpy 1.26, ``20`` for 2.0) as conda-build defines it."""
    parts = _major_minor(numpy)
    return {} if parts is None else {"np": int("".join(parts))}


class _ReadOnlyEnviron(dict[str, str]):
    """``os.environ`` as recipes read it: ``.get`` works, nothing can be changed."""


def environ_namespace(environ: Mapping[str, str] | None = None) -> SimpleNamespace:
    """``os`` as selectors and recipes may use it: ``os.environ.get(...)``, ``os.getenv``, ``os.sep``."""
    # never a credential: what a recipe renders ends up in plan.json, GITHUB_OUTPUT and summaries
    env = _ReadOnlyEnviron(without_secrets(os.environ if environ is None else environ))
    return SimpleNamespace(environ=env, getenv=env.get, sep="/", pathsep=":", name="posix", path=os.path)


def selector_namespace(
    target_platform: str,
    variant: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    numbers: bool = True,
) -> dict[str, Any]:
    """Everything a selector may name: platform flags, variant values, ``py``/``np``, ``os``.

    As conda-build's ``get_selectors``, a variant value that reads as an integer is one
    (``microarch_level > 1``) and ``true``/``false`` are booleans; ``numbers=False`` keeps integers
    as the strings written (what a Jinja2 template sees).
    """
    variant = dict(variant or {})
    ns: dict[str, Any] = {}
    for key, value in variant.items():
        if isinstance(key, str) and key.isidentifier():
            ns[key] = _selector_value(value, numbers=numbers)
    ns.update(platform_namespace(target_platform))
    ns.update(python_namespace(_first_str(variant.get("python"))))
    ns.update(numpy_namespace(_first_str(variant.get("numpy"))))
    os_ns = environ_namespace(environ)
    ns["os"] = os_ns
    ns["environ"] = os_ns.environ
    ns["True"] = True
    ns["False"] = False
    ns["None"] = None
    return ns


def _selector_value(value: Any, *, numbers: bool) -> Any:
    if not isinstance(value, str):
        return value
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if numbers:
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _first_str(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value is None else str(value)


@dataclass(frozen=True)
class SelectorError(Exception):
    """Raised by :func:`evaluate`; callers add file and line."""

    message: str

    def __str__(self) -> str:
        return self.message


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


class _Unknown:
    """An undefined name in a lenient selector: falsy, and anything else done with it fails."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<undefined>"


_UNKNOWN = _Unknown()


@dataclass
class _Evaluator:
    namespace: Mapping[str, Any]
    #: conda-build's rule for recipes: a name nobody defined is False (and is remembered)
    unknown_is_false: bool = False
    unknown: list[str] = field(default_factory=list)

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result: Any = True
                for value in node.values:
                    result = self.eval(value)
                    if not result:
                        return result
                return result
            result = False
            for value in node.values:
                result = self.eval(value)
                if result:
                    return result
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self.eval(node.operand)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self.eval(node.operand)
            if not isinstance(operand, (int, float)) or isinstance(operand, bool):
                raise SelectorError(f"cannot negate {operand!r}")
            return -operand
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.eval(comparator)
                if left is _UNKNOWN or right is _UNKNOWN:
                    raise SelectorError("comparison with an undefined name")
                try:
                    if not _COMPARE[type(op)](left, right):
                        return False
                except TypeError as exc:
                    raise SelectorError(f"cannot compare {left!r} and {right!r}") from exc
                left = right
            return True
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.eval(e) for e in node.elts)
        if isinstance(node, ast.Name):
            if node.id not in self.namespace:
                if self.unknown_is_false:
                    self.unknown.append(node.id)
                    return _UNKNOWN
                raise SelectorError(f"unknown name {node.id!r}")
            return self.namespace[node.id]
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise SelectorError(f"attribute {node.attr!r} is not allowed")
            base = self.eval(node.value)
            if isinstance(base, dict):
                if node.attr in ("get", "keys", "values", "items"):
                    return getattr(base, node.attr)
                raise SelectorError(f"attribute {node.attr!r} is not allowed")
            if not isinstance(base, (SimpleNamespace, str)) and base is not os.path:
                raise SelectorError(f"attribute {node.attr!r} of {type(base).__name__} is not allowed")
            if not hasattr(base, node.attr):
                raise SelectorError(f"unknown attribute {node.attr!r}")
            return getattr(base, node.attr)
        if isinstance(node, ast.Call):
            if node.keywords:
                raise SelectorError("keyword arguments are not allowed in selectors")
            # Only attribute calls (``os.environ.get(...)``, ``target_platform.startswith(...)``):
            # every object reachable here is one cipub put in the namespace.
            if not isinstance(node.func, ast.Attribute):
                raise SelectorError("only method calls such as os.environ.get(...) are allowed")
            func = self.eval(node.func)
            args = [self.eval(a) for a in node.args]
            try:
                return func(*args)
            except (TypeError, ValueError) as exc:
                raise SelectorError(str(exc)) from exc
        if isinstance(node, ast.Subscript):
            base = self.eval(node.value)
            key = self.eval(node.slice)
            try:
                return base[key]
            except (KeyError, IndexError, TypeError) as exc:
                raise SelectorError(f"cannot index {base!r} with {key!r}") from exc
        raise SelectorError(f"{type(node).__name__} is not allowed in a selector")


@functools.lru_cache(maxsize=4096)
def _parsed(selector: str) -> ast.Expression:
    """A selector's syntax tree, parsed once per process (a pinning repeats the same few hundred)."""
    try:
        return ast.parse(selector, mode="eval")
    except SyntaxError as exc:
        raise SelectorError(f"not a valid selector expression ({exc.msg})") from exc


def evaluate(selector: str, namespace: Mapping[str, Any], *, unknown_is_false: bool = False) -> bool:
    """Evaluate one selector expression; raise :class:`SelectorError` on anything unknown.

    ``unknown_is_false`` is for recipes read without their variant configuration: an undefined
    name is falsy (``not cuda`` holds), and a selector that compares or calls it is false as a
    whole (so ``skip: true  # [py<37]`` does not skip when python is unknown). Variant files are
    always strict.
    """
    tree = _parsed(selector.strip())
    evaluator = _Evaluator(namespace, unknown_is_false=unknown_is_false)
    try:
        return bool(evaluator.eval(tree))
    except SelectorError:
        if evaluator.unknown:
            return False
        raise


@dataclass(frozen=True)
class SelectedText:
    """Text with false-selector lines removed; ``line_map[i]`` is the source line of output line i+1."""

    text: str
    line_map: tuple[int, ...]

    def source_line(self, line: int) -> int:
        """1-based source line of 1-based output line ``line`` (clamped)."""
        if not self.line_map:
            return line
        return self.line_map[min(max(line, 1), len(self.line_map)) - 1]


def select_lines(
    text: str, namespace: Mapping[str, Any], *, source: Path | str, unknown_is_false: bool = False
) -> SelectedText:
    """Drop the lines whose ``# [selector]`` is false, as conda-build does; keep a line map.

    An unknown name or a malformed selector raises RecipeError with ``FILE:LINE``.
    """
    kept: list[str] = []
    line_map: list[int] = []
    #: a pinning repeats a few dozen selectors over ~1,000 lines; the namespace is the same for all
    decided: dict[str, bool] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = SELECTOR_LINE.match(line) if "#" in line else None
        if match and match.group("body").strip() and not match.group("body").lstrip().startswith("#"):
            selector = match.group("selector")
            try:
                keep = decided.get(selector)
                if keep is None:
                    keep = decided[selector] = evaluate(selector, namespace, unknown_is_false=unknown_is_false)
            except SelectorError as exc:
                raise RecipeError(
                    f"{source}:{number}: selector [{selector.strip()}]: {exc}",
                    hint="selectors may use platform names (linux, osx, win, x86_64, aarch64, ...), "
                    "target_platform, py, np, variant keys and os.environ.get(...)",
                ) from None
            if not keep:
                continue
            kept.append(match.group("body"))
        else:
            kept.append(line)
        line_map.append(number)
    return SelectedText("\n".join(kept) + ("\n" if kept else ""), tuple(line_map))

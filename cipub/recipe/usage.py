"""Which variant keys a meta.yaml uses, and what each variant of it renders to.

conda-build's rule, without conda-build: a key splits the matrix only when the recipe uses it —

* as a Jinja2 variable (``{{ python_min }}``, ``{% if cuda_compiler_version != "None" %}``,
  ``{% set mpi = mpi or 'nompi' %}``) or inside a ``# [selector]`` (``py`` counts as ``python``,
  ``np`` as ``numpy``);
* through ``compiler('c')`` (``c_compiler``, ``c_compiler_version``), ``stdlib('c')`` (``c_stdlib``,
  ``c_stdlib_version``), ``cdt('x')`` (``cdt_name``, ``cdt_arch``), ``pin_compatible('numpy')`` /
  ``pin_subpackage('x')``;
* as a bare list item, after rendering (``- numpy``, ``- libxml2-devel`` -> ``libxml2_devel``,
  ``- {{ mpi }}`` -> ``mpich``), anywhere in the recipe as conda-build's ``requirement_regex`` looks
  (``ignore_run_exports: - libbrotlicommon`` counts too); a name with a version constraint does not;
* as ``$key`` / ``${key}`` in ``build.sh`` or ``%key%`` in ``bld.bat`` (and in ``build/script``).

v1 recipes need none of this: py-rattler-build renders them and reports the keys each output used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cipub.core.errors import RecipeError
from cipub.recipe.selectors import SELECTOR_LINE

#: selector names that stand for a variant key
_DERIVED = {"py": "python", "py3k": "python", "py2k": "python", "py27": "python", "py36": "python", "np": "numpy"}
#: keys kept in every cell when a variant file defines them, as conda-smithy keeps them: conda-forge's
#: channels to build from, and the runner labels a feedstock asks for (a GPU or a larger machine)
ALWAYS_KEPT = ("channel_sources", "github_actions_labels")
#: conda-smithy counts these as used wherever ``mpi`` is (its ``_collapse_subpackage_variants``: the
#: pins of every MPI provider the ``mpi`` key may name stay in the cell, even where the platform's
#: value of ``mpi`` needs none of them)
MPI_PROVIDER_KEYS = ("mpich", "openmpi", "msmpi", "mpi_serial", "impi")


def implied_keys(used: Iterable[str], known: Iterable[str]) -> set[str]:
    """Keys conda-smithy keeps because of others that are used, and every key it always keeps."""
    known = set(known)
    implied = {k for k in ALWAYS_KEPT if k in known}
    if "mpi" in set(used):
        implied.update(k for k in MPI_PROVIDER_KEYS if k in known)
    return implied


_REQUIREMENT_SECTIONS = ("build", "host", "run")
_ENDS_NAME = re.compile(r"[^_0-9a-zA-Z]")


def _selector_names(selector: str) -> set[str]:
    import ast

    try:
        tree = ast.parse(selector.strip(), mode="eval")
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _commented_before(line: str, column_hint: str) -> bool:
    """True when ``#`` comes before the call on this line (a commented-out requirement)."""
    hash_at = line.find("#")
    call_at = line.find(column_hint)
    return hash_at != -1 and (call_at == -1 or hash_at < call_at)


def static_keys(path: Path, keys: Iterable[str]) -> set[str]:
    """Keys used by Jinja variables, selectors, compiler()/stdlib()/pin_*() calls and build scripts."""
    known = set(keys)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc})") from exc
    import jinja2  # meta.yaml only: importing this module (every build, every plan) must not pay for it
    import jinja2.meta
    import jinja2.nodes

    env = jinja2.Environment(autoescape=False)  # noqa: S701 - parsed for names only, never rendered to HTML
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise RecipeError(f"{path}:{exc.lineno}: Jinja2 syntax error: {exc.message}") from None
    used = {name for name in jinja2.meta.find_undeclared_variables(tree) if name in known}
    lines = source.splitlines()
    for call in tree.find_all(jinja2.nodes.Call):
        if not isinstance(call.node, jinja2.nodes.Name) or not call.args:
            continue
        first = call.args[0]
        if not isinstance(first, jinja2.nodes.Const) or not isinstance(first.value, str):
            continue
        line = lines[call.lineno - 1] if 0 < call.lineno <= len(lines) else ""
        if _commented_before(line, call.node.name + "("):
            continue
        arg = first.value
        if call.node.name == "compiler":
            used.update(k for k in (f"{arg}_compiler", f"{arg}_compiler_version") if k in known)
        elif call.node.name == "stdlib":
            used.update(k for k in (f"{arg}_stdlib", f"{arg}_stdlib_version") if k in known)
        elif call.node.name == "cdt":
            # conda-build 25.1 (#5599): a cdt() call uses the keys that name the CDT packages
            used.update(k for k in ("cdt_name", "cdt_arch") if k in known)
        elif call.node.name in ("pin_compatible", "pin_subpackage"):
            key = arg.replace("-", "_")
            if key in known:
                used.add(key)
            # conda-build's variant_regex reads ``pin_compatible('libwebp-base')`` as using
            # ``libwebp`` too: a key followed by any character that cannot continue a name
            used.update(k for k in known if len(arg) > len(k) and arg.startswith(k) and _ENDS_NAME.match(arg[len(k)]))
    for line in lines:
        match = SELECTOR_LINE.match(line)
        if match:
            for name in _selector_names(match.group("selector")):
                key = _DERIVED.get(name, name)
                if key in known:
                    used.add(key)
    used.update(_script_keys(path, source, known))
    used.update(implied_keys(used, known))
    return used


def template_keys(path: Path, keys: Iterable[str]) -> set[str]:
    """Keys the recipe names as Jinja2 variables or in ``# [selectors]``: they shape the whole
    recipe, not one output's requirements (conda-build's top-level loop variables)."""
    import jinja2  # meta.yaml work only: a v1 build never pays for it

    known = set(keys)
    source = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = jinja2.Environment(autoescape=False).parse(source)  # noqa: S701 - parsed for names only
    except jinja2.TemplateSyntaxError:
        return set()
    used = {name for name in jinja2.meta.find_undeclared_variables(tree) if name in known}
    for line in source.splitlines():
        match = SELECTOR_LINE.match(line)
        if match:
            used.update(k for k in (_DERIVED.get(n, n) for n in _selector_names(match.group("selector"))) if k in known)
    return used


def _script_keys(path: Path, source: str, known: set[str]) -> set[str]:
    texts = [source]
    for name in ("build.sh", "bld.bat"):
        script = path.parent / name
        if script.is_file():
            texts.append(script.read_text(encoding="utf-8", errors="replace"))
    found: set[str] = set()
    for text in texts:
        for match in re.finditer(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?|%([A-Za-z_][A-Za-z0-9_]*)%", text):
            name = match.group(1) or match.group(2)
            if name in known:
                found.add(name)
    return found


def requirement_names(data: Mapping[str, Any]) -> set[str]:
    """Bare requirement names (no version constraint) of the recipe and its outputs, ``-`` -> ``_``."""
    names: set[str] = set()
    sections = [data.get("requirements")]
    for output in data.get("outputs") or []:
        if isinstance(output, dict):
            sections.append(output.get("requirements"))
    for section_data in sections:
        # an output may list its run requirements directly
        reqs = {"run": section_data} if isinstance(section_data, list) else section_data
        if not isinstance(reqs, dict):
            continue
        for section in _REQUIREMENT_SECTIONS:
            for entry in reqs.get(section) or []:
                text = str(entry).strip() if entry is not None else ""
                if text and len(text.split()) == 1:
                    names.add(text.replace("-", "_"))
    return names


#: conda-build's default ``ignore_build_only_deps`` (variants.py DEFAULT_VARIANTS)
IGNORE_BUILD_ONLY = frozenset({"python", "numpy"})


def build_only(data: Mapping[str, Any]) -> set[str]:
    """``python``/``numpy`` named only in build requirements (no host section names them): conda-build's
    ``trim_build_only_deps`` does not count them as used (a cross-compiling ``- python`` in build)."""
    build: set[str] = set()
    host: set[str] = set()
    sections = [data.get("requirements")]
    sections += [o.get("requirements") for o in data.get("outputs") or [] if isinstance(o, dict)]
    for reqs in sections:
        if not isinstance(reqs, dict):
            continue
        for section, into in (("build", build), ("host", host)):
            for entry in reqs.get(section) or []:
                text = str(entry).strip() if entry is not None else ""
                if text:
                    into.add(text.split()[0].replace("-", "_"))
    return {name for name in IGNORE_BUILD_ONLY if name in build and name not in host}


_BARE_ITEM = re.compile(r"^\s+-\s+([A-Za-z0-9_.-]+)\s*(?:#.*)?$")


def bare_items(text: str) -> set[str]:
    """Every ``- name`` list item of the rendered text with nothing after the name but a comment,
    ``-`` read as ``_`` (conda-build's ``find_used_variables_in_text`` requirement rule)."""
    names: set[str] = set()
    for line in text.splitlines():
        match = _BARE_ITEM.match(line)
        if match:
            names.add(match.group(1).replace("-", "_"))
    return names


@dataclass(frozen=True)
class RenderedVariant:
    """One variant of a meta.yaml: was it skipped, and which outputs are noarch."""

    skipped: bool
    noarch: tuple[str | None, ...]
    requirement_keys: frozenset[str]
    #: output names, in the order of ``noarch``
    names: tuple[str, ...] = ()
    #: per output (same order): the keys its own requirements show it uses (a bare name, a
    #: compiler or stdlib package of that key's value); what Jinja or a selector uses is not here
    evidence: tuple[frozenset[str], ...] = ()
    #: per output (same order): its name, version and build number as rendered for this variant
    numbers: tuple[tuple[str, str, int], ...] = ()


def render_variant(
    path: Path,
    target_platform: str,
    variant: Mapping[str, str],
    known: Iterable[str],
    *,
    environ: Mapping[str, str] | None = None,
) -> RenderedVariant:
    """Render the meta.yaml for one variant; report skip, per-output noarch and used requirement keys."""
    from cipub.recipe import v0

    rendered = v0.render_meta_yaml(path, target_platform, variant, strict_selectors=False, environ=environ)
    data = rendered.data
    build = v0.section(data, "build", path=path)
    if _skip(build):
        return RenderedVariant(True, (), frozenset())
    outputs = data.get("outputs")
    noarch: list[str | None] = []
    names: list[str] = []
    evidence: list[frozenset[str]] = []
    numbers: list[tuple[str, str, int]] = []
    known_set = set(known)
    top_version = str(v0.section(data, "package", path=path).get("version") or "").strip()
    top_number = _number(build, 0, path)
    if isinstance(outputs, list) and outputs:
        for output in outputs:
            if not isinstance(output, dict):
                continue
            out_build = v0.section(output, "build", path=path)
            if not _skip(out_build):
                noarch.append(v0.noarch_of(out_build))
                names.append(str(output.get("name", "")))
                evidence.append(_output_evidence(output, variant, target_platform, known_set))
                version = str(output.get("version") or "").strip() or top_version
                numbers.append((names[-1], version, _number(out_build, top_number, path)))
        if not noarch:
            return RenderedVariant(True, (), frozenset())
    else:
        noarch.append(v0.noarch_of(build))
        names.append(str(v0.section(data, "package", path=path).get("name", "")))
        evidence.append(_output_evidence(data, variant, target_platform, known_set))
        numbers.append((names[-1], top_version, top_number))
    keys = frozenset((requirement_names(data) | bare_items(rendered.selected.text)) - build_only(data)) & known_set
    return RenderedVariant(False, tuple(noarch), keys, tuple(names), tuple(evidence), tuple(numbers))


def _number(build: Mapping[str, Any], default: int, path: Path) -> int:
    """``build/number`` as rendered for the variant; a number this render cannot read counts as
    ``default`` (reading the recipe for the build says what is wrong with it)."""
    from cipub.recipe import v0

    try:
        return v0.build_number_of(build, default, path=path)
    except RecipeError:
        return default


def _output_evidence(
    output: Mapping[str, Any], variant: Mapping[str, str], target_platform: str, known: set[str]
) -> frozenset[str]:
    """Keys one output's requirements show it uses: bare names, and ``<lang>_compiler`` /
    ``<lang>_stdlib`` (with their ``_version``) when a requirement is that key's package."""
    names = requirement_names({"requirements": output.get("requirements")}) & known
    texts = []
    reqs = output.get("requirements")
    sections = {"run": reqs} if isinstance(reqs, list) else reqs if isinstance(reqs, dict) else {}
    for section in _REQUIREMENT_SECTIONS:
        texts += [str(e).split()[0] for e in (sections.get(section) or []) if e is not None and str(e).strip()]
    found = set(names)
    for key in known:
        if key.endswith(("_compiler", "_stdlib")) and f"{variant.get(key)}_{target_platform}" in texts:
            found.update(k for k in (key, f"{key}_version") if k in known)
    return frozenset(found)


def _skip(build: Mapping[str, Any]) -> bool:
    return str(build.get("skip", "")).strip().lower() in ("true", "yes", "1")

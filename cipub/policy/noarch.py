"""noarch advice: a package with nothing platform-specific in it should be built once, not per cell.

From built artifacts (``cipub build``): a non-noarch package whose files hold no compiled code
(no ``.so``/``.dylib``/``.dll``/``.pyd``, no ELF / Mach-O / PE executables) and whose requirements
name nothing platform-specific (``__glibc``, ``libgcc``, ``vc``...) could be ``noarch: python``
(if it ships Python files) or ``noarch: generic``.

From the plan (``cipub plan``, before anything is built): a recipe that calls no compiler, has
``python`` among its requirements and is planned as more than one cell gets the same hint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from cipub.recipe import Recipe

if TYPE_CHECKING:
    from cipub.core.artifact import Artifact
    from cipub.policy.plan import Plan

#: dependency names that tie a package to a platform (virtual packages start with "__")
PLATFORM_DEPENDENCIES = frozenset(
    {
        "libgcc",
        "libgcc-ng",
        "libstdcxx",
        "libstdcxx-ng",
        "libgfortran",
        "libgfortran5",
        "libgfortran-ng",
        "libgomp",
        "libcxx",
        "llvm-openmp",
        "vc",
        "vc14_runtime",
        "vs2015_runtime",
        "ucrt",
        "msys2-conda-epoch",
    }
)
#: first bytes of compiled executables and libraries
_MAGIC = (
    b"\x7fELF",
    b"MZ",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)


def _dependency_name(spec: str) -> str:
    return spec.strip().split()[0].split("=")[0].split("[")[0] if spec.strip() else ""


def platform_dependencies(depends: Iterable[str]) -> list[str]:
    names = [_dependency_name(d) for d in depends]
    return sorted({n for n in names if n.startswith("__") or n in PLATFORM_DEPENDENCIES})


def compiled_members(artifact: Artifact) -> list[str]:
    """Compiled files in the package: by suffix (from the reader) and by executable magic bytes."""
    if artifact.binary_files:
        return list(artifact.binary_files)
    # imported here: ``cipub plan`` asks only for the plan advice, which reads no package
    from conda_package_streaming import package_streaming

    found: list[str] = []
    with artifact.path.open("rb") as fileobj:
        if artifact.filename.endswith(".conda"):
            members = package_streaming.stream_conda_component(
                artifact.filename, fileobj, package_streaming.CondaComponent.pkg
            )
        else:
            members = package_streaming.stream_conda_component(artifact.filename, fileobj)
        for tar, member in members:
            if not member.isfile() or member.name.startswith("info/") or member.size < 4:
                continue
            handle = tar.extractfile(member)
            if handle is not None and handle.read(4).startswith(_MAGIC):
                found.append(member.name)
                break
    return found


def _could_be(artifact: Artifact) -> str:
    return (
        "python"
        if artifact.has_python_files or any(_dependency_name(d) == "python" for d in artifact.depends)
        else "generic"
    )


def advise(recipe: Recipe, artifacts: list[Artifact], *, planned_builds: int | None = None) -> list[str]:
    """Human notes: which of these non-noarch packages could be noarch, and what that saves.

    ``planned_builds``: how many builds the plan makes of this recipe (default: the artifacts seen).
    """
    notes: list[str] = []
    by_name: dict[str, list[Artifact]] = {}
    for artifact in artifacts:
        by_name.setdefault(artifact.name, []).append(artifact)
    for name, group in by_name.items():
        if any(a.noarch for a in group):
            continue
        if any(compiled_members(a) for a in group):
            continue
        if any(platform_dependencies(a.depends) for a in group):
            continue
        if len({a.subdir for a in group}) > 1 and len({frozenset(map(_dependency_name, a.depends)) for a in group}) > 1:
            continue  # requirement names differ between platforms: platform-specific after all
        kind = _could_be(group[0])
        builds = planned_builds if planned_builds is not None else len(group)
        saving = (
            f"; that would save {builds - 1} build{'s' if builds - 1 != 1 else ''} ({builds} -> 1)"
            if builds > 1
            else "; it would then be built once for every platform and python"
        )
        notes.append(f"{name} could be `noarch: {kind}`: no compiled files and no per-platform requirements{saving}")
    return notes


def advise_plan(recipe: Recipe, plan: Plan) -> list[str]:
    """Before building: a multi-cell recipe that compiles nothing and needs python could be noarch."""
    if any(cell.noarch for cell in plan.cells) or len(plan.cells) < 2:
        return []
    text = recipe.path.read_text(encoding="utf-8", errors="replace")
    if "compiler(" in text or "stdlib(" in text:
        return []
    if not _mentions_python(text):
        return []
    return [
        f"{recipe.name} could be `noarch: python`: the recipe calls no compiler; "
        f"that would save {len(plan.cells) - 1} build{'s' if len(plan.cells) != 2 else ''} ({len(plan.cells)} -> 1) "
        "(check the built packages: `cipub build` says so when they hold no compiled files)"
    ]


def _mentions_python(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("- ") and _dependency_name(stripped[2:].split("#")[0]) == "python":
            return True
    return False


def summarize(notes: Sequence[str]) -> str:
    return "\n".join(f"note: {n}" for n in notes)

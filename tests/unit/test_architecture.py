"""The import graph of ``cipub/``: no cycles, and every import goes down the layers.

The graph is read from the source with :mod:`ast`, never by importing: one node per module under
``cipub/`` (a package is its ``__init__.py``), one edge per import of another ``cipub`` module found
*anywhere* in the file -- at module level, inside functions and classes, under ``if TYPE_CHECKING:``
or ``try:`` -- in every spelling:

* ``import cipub.a.b`` and ``from cipub.a import b`` (an edge to ``cipub.a.b`` when it is a module,
  to ``cipub.a`` when ``b`` is a name defined there), relative imports (``from . import x``,
  ``from ..core import errors``);
* ``importlib.import_module("cipub.x")`` / ``import_module(...)`` / ``__import__(...)`` with a literal
  name;
* imports by a computed name (``import_module(_MODULES[kind])``, ``__import__(f"cipub.cli.{name}")``):
  the module is taken to import every ``cipub`` module that a string constant in it names, and every
  module under the literal prefix of such an f-string (a registry, as ``cipub.channels`` keeps one).

Importing ``cipub.a.b`` runs ``cipub/a/__init__.py`` first; that implicit edge to the parent package
is not counted (a package importing its own modules would otherwise always be a cycle).

**Layers** (the folder tree shows them; highest first). A module may import modules of its own layer
or of a lower one, never of a higher one:

1. ``cipub.cli`` -- parse the command line, resolve settings, call one workflow, report; the error
   boundary. Also installs the CI masker into ``cipub.core.secrets`` at the entry point.
2. ``cipub.workflows`` -- the library API a command calls (build, upload, promote, plan, verify).
3. ``cipub.ci`` -- what cipub tells the CI provider (outputs, masks, summaries) and the CI jobs of a
   plan; it renders policy objects (a ``Plan``, a ``Manifest``), so it sits above ``cipub.policy``.
4. ``cipub.policy`` -- the rules that are the same on every target and engine.
5. ``cipub.channels``, ``cipub.engines``, ``cipub.recipe`` -- one layer (targets, build engines,
   recipe reading): I/O and formats, which may use each other.
6. ``cipub.core`` -- errors, files, the manifest, transport, secrets, settings.

Special cases: ``cipub`` itself (``cipub/__init__.py``: the version) is below every layer and imports
nothing of cipub; ``cipub.__main__`` (``python -m cipub``) is above every layer and imported by none.
A module outside every layer fails the test: a new room needs a place in this list first.

Type-only imports (``if TYPE_CHECKING:``) count like the others: a lower layer naming a higher
layer's type knows about that layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import cipub

PACKAGE_DIR = Path(cipub.__file__).resolve().parent
ROOT = "cipub"
MAIN = "cipub.__main__"

#: highest first; a module may import its own layer or a later one
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cli", ("cipub.cli",)),
    ("workflows", ("cipub.workflows",)),
    ("ci", ("cipub.ci",)),
    ("policy", ("cipub.policy",)),
    ("targets/engines/recipe", ("cipub.channels", "cipub.engines", "cipub.recipe")),
    ("core", ("cipub.core",)),
)


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


@dataclass
class Graph:
    package_dir: Path
    modules: dict[str, Module]
    #: importer -> imported -> line of the first such import in the importer
    edges: dict[str, dict[str, int]] = field(default_factory=dict)

    def line(self, source: str, target: str) -> str:
        module = self.modules[source]
        return f"{module.path.relative_to(self.package_dir.parent)}:{self.edges[source][target]}"


def find_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = Module(".".join(parts), path, is_package)
    return modules


class _ImportCollector(ast.NodeVisitor):
    """Every cipub module one file imports, with the line of the first import."""

    def __init__(self, module: Module, known: dict[str, Module]) -> None:
        self.module = module
        self.known = known
        self.package = module.name if module.is_package else module.name.rpartition(".")[0]
        self.found: dict[str, int] = {}
        self.computed_import_line: int | None = None
        self.named: dict[str, int] = {}  # string constants naming a cipub module (or a prefix: "x.")

    def _add(self, name: str, line: int) -> None:
        # the module itself, or the longest module prefix of a name defined in it
        while name and name not in self.known:
            name = name.rpartition(".")[0]
        if name and name != self.module.name:
            self.found.setdefault(name, line)

    @staticmethod
    def _relative(package: str, level: int, name: str | None) -> str:
        """``from ..x import y`` in ``package``: one dot is the package itself, each more its parent."""
        base = package.split(".")
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._relative(self.package, node.level, node.module) if node.level else (node.module or "")
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.known else base, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if called in ("import_module", "__import__") and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                target = name.value
                if target.startswith("."):  # import_module(".x", "cipub.pkg"), or __package__
                    anchor = node.args[1] if len(node.args) > 1 else None
                    package = str(anchor.value) if isinstance(anchor, ast.Constant) else self.package
                    stripped = target.lstrip(".")
                    target = self._relative(package, len(target) - len(stripped), stripped or None)
                self._add(target, node.lineno)
            elif self.computed_import_line is None:
                self.computed_import_line = node.lineno
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in self.known:
            self.named.setdefault(node.value, node.lineno)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        first = node.values[0] if node.values else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.startswith(ROOT + "."):
            self.named.setdefault(first.value, node.lineno)
        self.generic_visit(node)

    def imports(self) -> dict[str, int]:
        if self.computed_import_line is not None:  # a registry: each module it names may be imported
            for name, line in self.named.items():
                if name.endswith("."):
                    for other in self.known:
                        if other.startswith(name):
                            self._add(other, line)
                else:
                    self._add(name, line)
        return self.found


def build_graph(package_dir: Path = PACKAGE_DIR) -> Graph:
    graph = Graph(package_dir, find_modules(package_dir))
    for name, module in graph.modules.items():
        collector = _ImportCollector(module, graph.modules)
        collector.visit(ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path)))
        graph.edges[name] = collector.imports()
    return graph


def strongly_connected_components(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; each component sorted, components in discovery order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def cycle_in(graph: Graph, component: list[str]) -> str:
    """One cycle through the component's first module, each step with the file and line."""
    members = set(component)
    start = component[0]
    paths: dict[str, list[str]] = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph.edges[node]):
            if succ == start:
                steps = [*paths[node], start]
                return "\n".join(
                    f"    {a} -> {b}  ({graph.line(a, b)})" for a, b in zip(steps, steps[1:], strict=False)
                )
            if succ in members and succ not in paths:
                paths[succ] = [*paths[node], succ]
                queue.append(succ)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - Tarjan said there is one


def layer_of(name: str) -> int | None:
    """The position of the module's layer (0 = highest), -1 for __main__, len(LAYERS) for cipub itself."""
    if name == MAIN:
        return -1
    if name == ROOT:
        return len(LAYERS)
    for position, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return position
    return None


def layer_violations(graph: Graph) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for source in sorted(graph.edges):
        for target in sorted(graph.edges[source]):
            src, dst = layer_of(source), layer_of(target)
            if src is None or dst is None:
                continue  # reported by test_every_module_has_a_layer
            if target == MAIN or (source == ROOT) or dst < src:
                found[(source, target)] = graph.line(source, target)
    return found


def _layer_name(name: str) -> str:
    position = layer_of(name)
    if position is None:
        return "no layer"
    if position == -1:
        return "entry point"
    if position == len(LAYERS):
        return "package root"
    return LAYERS[position][0]


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph()


def test_no_import_cycle_in_cipub(graph: Graph) -> None:
    cycles = [c for c in strongly_connected_components(graph.edges) if len(c) > 1]
    message = [f"import cycle among {', '.join(c)}:\n{cycle_in(graph, c)}" for c in cycles]
    assert not message, "\n".join(message)


def test_every_import_goes_down_the_layers(graph: Graph) -> None:
    found = layer_violations(graph)
    message = [f"{a} ({_layer_name(a)}) imports {b} ({_layer_name(b)}) at {where}" for (a, b), where in found.items()]
    assert not message, "layer order is " + " > ".join(n for n, _ in LAYERS) + ":\n" + "\n".join(message)


def test_every_module_has_a_layer(graph: Graph) -> None:
    assert [name for name in graph.modules if layer_of(name) is None] == []


# -- the reader itself ------------------------------------------------------------------------------


def _graph_of(tmp_path: Path, files: dict[str, str]) -> Graph:
    for relative, text in files.items():
        path = tmp_path / ROOT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return build_graph(tmp_path / ROOT)


def test_the_reader_sees_every_spelling_of_an_import(tmp_path: Path) -> None:
    graph = _graph_of(
        tmp_path,
        {
            "__init__.py": "",
            "core/__init__.py": "",
            "core/errors.py": "class E(Exception): ...\n",
            "core/secrets.py": "",
            "core/oidc.py": "",
            "core/settings.py": "",
            "ci/__init__.py": "",
            "ci/provider.py": "",
            "ci/reports.py": "",
            "policy/__init__.py": "",
            "policy/plan.py": (
                "from __future__ import annotations\n"
                "import importlib\n"
                "from typing import TYPE_CHECKING\n"
                "import cipub.core.errors as errors\n"  # import x as y
                "from cipub.core.errors import E\n"  # a name in a module
                "from ..core import secrets\n"  # relative, a submodule
                "from . import buildnumber\n"  # relative, same package
                "if TYPE_CHECKING:\n"
                "    from cipub.ci import reports\n"
                "def later():\n"
                "    from cipub.ci.provider import detect\n"  # function level
                "    importlib.import_module('cipub.core.oidc')\n"
                "    __import__('cipub.core.settings')\n"
                "    importlib.import_module('..ci', 'cipub.policy')\n"  # relative, with a package
            ),
            "policy/buildnumber.py": "",
        },
    )
    assert set(graph.edges["cipub.policy.plan"]) == {
        "cipub.ci",
        "cipub.core.errors",
        "cipub.core.secrets",
        "cipub.policy.buildnumber",
        "cipub.ci.reports",
        "cipub.ci.provider",
        "cipub.core.oidc",
        "cipub.core.settings",
    }


def test_the_reader_follows_a_registry_of_module_names(tmp_path: Path) -> None:
    graph = _graph_of(
        tmp_path,
        {
            "__init__.py": "",
            "channels/__init__.py": (
                "import importlib\n"
                "_MODULES = {'local': 'cipub.channels.local'}\n"
                "def open_channel(kind):\n"
                "    return importlib.import_module(_MODULES[kind])\n"
            ),
            "channels/local.py": "from cipub.channels import x\n",
            "cli/__init__.py": "def register(name):\n    __import__(f'cipub.cli.{name}')\n",
            "cli/plan.py": "",
            "cli/ci.py": "",
        },
    )
    assert set(graph.edges["cipub.channels"]) == {"cipub.channels.local"}
    assert set(graph.edges["cipub.cli"]) == {"cipub.cli.plan", "cipub.cli.ci"}
    cycles = [c for c in strongly_connected_components(graph.edges) if len(c) > 1]
    assert cycles == [["cipub.channels", "cipub.channels.local"]]
    assert "cipub/channels/__init__.py:2" in cycle_in(graph, cycles[0])


def test_the_layer_rule_flags_an_upward_import_and_allows_workflows(tmp_path: Path) -> None:
    graph = _graph_of(
        tmp_path,
        {
            "__init__.py": "",
            "__main__.py": "from cipub.cli import run\n",
            "cli/__init__.py": "from cipub.workflows import build\n",
            "workflows/__init__.py": "",
            "workflows/build.py": "from cipub.ci import reports\nfrom cipub.policy import plan\n",
            "ci/__init__.py": "",
            "ci/reports.py": "from cipub.policy import plan\n",
            "policy/__init__.py": "",
            "policy/plan.py": "from cipub.channels import base\nfrom cipub.recipe import v1\n",
            "channels/__init__.py": "",
            "channels/base.py": "from cipub.recipe import v1\nfrom cipub.core import errors\nfrom cipub import x\n",
            "recipe/__init__.py": "",
            "recipe/v1.py": "",
            "core/__init__.py": "",
            "core/errors.py": "",
            "core/secrets.py": "def later():\n    from cipub.ci import provider\n",
        },
    )
    assert layer_violations(graph) == {("cipub.core.secrets", "cipub.ci"): "cipub/core/secrets.py:2"}

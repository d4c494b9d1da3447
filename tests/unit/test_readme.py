"""The README's promises that issue 11 asks to keep: a two-command Quickstart (the same commands CI
runs), the test suite's prerequisites, project discovery and the output directory."""

from __future__ import annotations

import re

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_quickstart_is_two_commands_and_ci_runs_them() -> None:
    quickstart = section("Quickstart")
    blocks = re.findall(r"```bash\n(.*?)```", quickstart, re.S)
    commands = [b.strip() for b in blocks if "pip install" in b]
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert all(c in ci for c in commands)


def test_the_test_suite_prerequisites_are_stated() -> None:
    quickstart = section("Quickstart")
    for tool in ("node", "npm", "C++ compiler", "rsync"):
        assert tool in quickstart


def test_discovery_and_output_directory_are_documented() -> None:
    concepts = section("Concepts")
    assert "[tool.cipub]" in concepts and "repository root" in concepts and "conflict" in concepts
    assert "`output/`" in concepts and "twine upload dist/*" in concepts

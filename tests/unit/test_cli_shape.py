"""The CLI stays thin: short functions, options from the registry, global options anywhere, fast help."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cipub.core.options import OPTIONS
from tests.conftest import REPO
from tests.support.packages import make_package

CLI = REPO / "cipub" / "cli"
#: a command is parse -> settings -> one workflow call -> report; anything longer holds work
MAX_FUNCTION_LINES = 60


def function_lengths(path: Path) -> dict[str, int]:
    """Every function and method in ``path`` (nested ones too): lines from its first decorator to its end."""
    lengths = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            assert node.end_lineno is not None
            lengths[f"{path.name}:{node.name}"] = node.end_lineno - start + 1
    return lengths


def test_no_cli_function_is_longer_than_60_lines() -> None:
    lengths: dict[str, int] = {}
    for path in sorted(CLI.glob("*.py")):
        lengths.update(function_lengths(path))
    assert lengths, "no functions found under cipub/cli"
    too_long = {name: n for name, n in lengths.items() if n > MAX_FUNCTION_LINES}
    assert not too_long, f"move the work into cipub/workflows: {too_long}"


def test_command_options_are_spelled_as_the_registry_says() -> None:
    import typer.main

    from cipub.cli import _register_commands, app

    _register_commands()
    checked = 0
    stack = [typer.main.get_command(app)]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        for param in cmd.params:
            if param.name in OPTIONS and param.param_type_name == "option":
                # click's on/off pair "--test/--no-test" is one declaration, two spellings
                declared = {f for flag in OPTIONS[param.name].flags for f in flag.split("/")}
                assert set(param.opts) | set(param.secondary_opts) == declared, (
                    cmd.name,
                    param.name,
                )
                checked += 1
    assert checked > 40


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return make_package(tmp_path / "pkgs", "shape-demo", "1.0", 0)


@pytest.mark.parametrize("before", [True, False], ids=["before-subcommand", "after-subcommand"])
def test_debug_before_or_after_the_subcommand_prints_each_source(  # type: ignore[no-untyped-def]
    cipub, tmp_path: Path, package: Path, before: bool
) -> None:
    (tmp_path / "cipub.toml").write_text("concurrency = 2\n")
    args = ["upload", str(package), "--target", str(tmp_path / "chan"), "--dry-run"]
    args = ["--debug", *args] if before else [*args, "--debug"]
    canary = "canary-token-never-printed-0123456789"
    result = cipub(*args, cwd=tmp_path, env={"CIPUB_LABEL": "rc", "ANACONDA_API_TOKEN": canary})
    assert result.code == 0, result.err
    lines = [line.split() for line in result.err.splitlines() if line.startswith("cipub:   ")]
    origins = {words[1]: " ".join(words[3:]) for words in lines}
    assert origins["target"] == "flag --target"
    assert origins["label"] == "env CIPUB_LABEL"
    assert origins["concurrency"] == f"file {tmp_path / 'cipub.toml'}"
    assert origins["retries"] == "default"
    assert origins["debug"] == "flag --debug"
    assert canary not in result.out + result.err


def test_debug_after_a_group_subcommand(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for args in (["ci", "verify", "--mode", "files", "--debug"], ["ci", "--debug", "verify", "--mode", "files"]):
        result = cipub(*args, cwd=tmp_path)
        assert result.code == 2  # no manifest yet: but the settings were resolved and shown first
        assert "flag --debug" in result.err


def test_without_debug_no_settings_are_printed(cipub, tmp_path: Path, package: Path) -> None:  # type: ignore[no-untyped-def]
    result = cipub("upload", str(package), "--target", str(tmp_path / "chan"), "--dry-run", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "cipub: settings" not in result.err


@pytest.mark.parametrize("bad", ["python", "python=", "python=3.11,", "=3.11", "py thon=3"])
def test_variant_parses_the_same_in_build_and_plan(cipub, tmp_path: Path, bad: str) -> None:  # type: ignore[no-untyped-def]
    results = [cipub(command, "recipe", "--variant", bad, cwd=tmp_path) for command in ("build", "plan")]
    assert [r.code for r in results] == [2, 2]
    assert results[0].err == results[1].err
    assert f"--variant {bad!r}: expected KEY=VALUE" in results[0].err


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from cipub.cli import main\n"
        "main(['--help'])\n"
        "heavy = [m for m in ('pydantic', 'httpx', 'rattler', 'rattler_build', 'yaml', 'jinja2', 'rich.progress',"
        " 'cipub.workflows.build', 'cipub.core.settings') if m in sys.modules]\n"
        "print('imported:', ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.splitlines()[-1] == "imported: ", done.stdout


def test_a_real_command_imports_no_pydantic_and_nothing_it_does_not_use(tmp_path: Path) -> None:
    """`cipub promote` of a missing manifest parses every option, then fails early (issue 12, B4).

    typer 0.29 would import pydantic to coerce the options (pyproject pins <0.29); yaml (cipub.ci),
    jinja2 (recipes), jsonschema (manifests) and py-rattler must wait for the work that needs them;
    the manifest is read before the target is opened, so no channel code or httpx is loaded either.
    """
    code = (
        "import sys\n"
        "from cipub.cli import main\n"
        f"code = main(['promote', '--manifest', {str(tmp_path / 'none.json')!r}, '--target', {str(tmp_path / 'c')!r},"
        " '--from', 'test', '--to', 'main', '-j', '2'])\n"
        "heavy = ('pydantic', 'rattler', 'rattler_build', 'yaml', 'jinja2', 'jsonschema', 'httpx', 'filelock',\n"
        "         'cipub.channels', 'cipub.core.artifact', 'cipub.core.transport', 'cipub.ci.matrix')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('exit', code, 'imported:', ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "exit 2 imported: ", done.stdout + done.stderr


def test_the_command_table_names_the_module_of_every_command() -> None:
    import typer.main

    from cipub.cli import COMMAND_MODULES, _register_commands, app

    _register_commands()
    registered = {info.name: info.callback.__module__ for info in app.registered_commands if info.callback}
    registered |= {group.name: "cipub.cli.ci" for group in app.registered_groups}
    assert registered == {name: f"cipub.cli.{module}" for name, module in COMMAND_MODULES.items()}
    assert set(typer.main.get_command(app).commands) == set(COMMAND_MODULES)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "modules"),
    [
        (["--color", "never", "promote", "--manifest", "{missing}"], ["publish"]),
        (["-v", "status", "--manifest", "{missing}"], ["release"]),
        (["--help"], ["build", "ci", "plan", "publish", "release"]),
        (["no-such-command"], ["build", "ci", "plan", "publish", "release"]),
    ],
)
def test_a_run_imports_the_module_of_its_command_only(tmp_path: Path, argv: list[str], modules: list[str]) -> None:
    """Start-up (B4): a command does not import, nor have typer build, the others; --help and an
    unknown name still see every command (the list, and click's "No such command")."""
    args = [a.format(missing=tmp_path / "none.json") for a in argv]
    code = (
        "import sys\n"
        "from cipub.cli import main\n"
        f"code = main({args!r})\n"
        "print('exit', code, sorted(m.split('.')[2] for m in sys.modules if m.count('.') == 2 and"
        " m.startswith('cipub.cli.') and not m.startswith('cipub.cli._')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    *_, last = done.stdout.splitlines()
    assert last.endswith(str(modules)), done.stdout + done.stderr
    if argv == ["--help"]:
        assert all(f"  {name}" in done.stdout for name in ("build", "upload", "promote", "plan", "ci", "yank"))
    elif argv[0] == "no-such-command":
        assert "No such command 'no-such-command'" in done.stderr
    else:
        assert last.startswith("exit 2 "), done.stdout + done.stderr


def test_reading_a_v1_recipe_needs_neither_jinja2_nor_yaml(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(
        "package:\n  name: tiny\n  version: '1.0'\nbuild:\n  number: 3\n  noarch: generic\n  script: [echo]\n"
    )
    code = (
        "import sys\n"
        "from cipub.recipe import load_recipe\n"
        f"r = load_recipe({str(tmp_path)!r})\n"
        "heavy = [m for m in ('pydantic', 'rattler', 'yaml', 'jinja2', 'jsonschema') if m in sys.modules]\n"
        "print(r.name, r.build_number, 'imported:', ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "tiny 3 imported: ", done.stdout + done.stderr


def test_planning_a_v1_recipe_does_not_import_jinja2(tmp_path: Path) -> None:
    # cipub.policy.plan and cipub.recipe.variants import cipub.recipe.v0 (its YAML loader, conda-build's
    # default compilers); Jinja2 is for rendering a meta.yaml only (issue 17, render cost)
    (tmp_path / "recipe.yaml").write_text(
        "package:\n  name: tiny\n  version: '1.0'\nbuild:\n  number: 0\n  script: [echo]\n"
        "requirements:\n  host: [python]\n"
    )
    (tmp_path / "variants.yaml").write_text("python: ['3.11', '3.12']\n")
    code = (
        "import sys\n"
        "from cipub.cli import main\n"
        f"code = main(['plan', {str(tmp_path)!r}, '-p', 'linux-64', '--no-build-numbers', '--format', 'json',"
        f" '--output', {str(tmp_path / 'plan.json')!r}])\n"
        "print('exit', code, 'jinja2' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "exit 0 False", done.stdout + done.stderr
    assert len(json.loads((tmp_path / "plan.json").read_text())["cells"]) == 2


def test_a_skip_with_match_is_answered_by_py_rattler_build_without_importing_py_rattler(tmp_path: Path) -> None:
    # ``match()`` is rattler-build's own (py-rattler-build is loaded for the render already):
    # py-rattler's import was ~20 ms of a plan of ujson-feedstock (issue 17, B9)
    (tmp_path / "recipe.yaml").write_text(
        "package:\n  name: tiny\n  version: '1.0'\nbuild:\n  number: 0\n  script: [echo]\n"
        '  skip: match(python, "<3.12")\nrequirements:\n  host: [python]\n'
    )
    (tmp_path / "variants.yaml").write_text("python: ['3.11.* *_cpython', '3.12.* *_cpython', '3.13']\n")
    code = (
        "import sys\n"
        "from cipub.cli import main\n"
        f"code = main(['plan', {str(tmp_path)!r}, '-p', 'linux-64', '--no-build-numbers', '--format', 'json',"
        f" '--output', {str(tmp_path / 'plan.json')!r}])\n"
        "print('exit', code, 'rattler' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "exit 0 False", done.stdout + done.stderr
    cells = json.loads((tmp_path / "plan.json").read_text())["cells"]
    assert sorted(c["variant"]["python"] for c in cells) == ["3.12.* *_cpython", "3.13"]


def test_a_match_spec_rattler_build_rejects_does_not_skip() -> None:
    # ``match(python, "3.11")`` (no operator): rattler-build's parser refuses it, and its build takes
    # the condition as not holding (tests/integration/plan/test_skip_typed_values.py builds it);
    # cipub read it leniently as ``==3.11`` with py-rattler and skipped
    from cipub.recipe.v1 import _condition_holds

    assert _condition_holds('match(python, "3.11")', "linux-64", {"python": "3.11.* *_cpython"}) is False
    assert _condition_holds('match(python, ">=3.11")', "linux-64", {"python": "3.12.* *_cpython"}) is True
    assert _condition_holds('match(python, ">=3.11")', "linux-64", {"python": "3.10.* *_cpython"}) is False

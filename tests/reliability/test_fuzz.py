"""Bad input never becomes a traceback: hypothesis throws thousands of malformed recipes, variant
files, manifests and target URLs at cipub's parsers and at the CLI. The only acceptable outcomes
are a result or a :class:`cipub.core.errors.CipubError` (a documented exit code with a one-line message).

Runs derandomized (the same cases every run, so CI is stable); set ``RELIABILITY_FUZZ_RANDOM=1`` to
explore new ones. ``RELIABILITY_FUZZ_SCALE`` multiplies the number of cases (default 1).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cipub.channels import parse_target
from cipub.core import manifest as manifest_mod
from cipub.core.errors import EXIT_CODES, CipubError
from cipub.core.manifest import Manifest
from cipub.recipe import load_recipe
from cipub.recipe.variants import expand, parse_override, parse_variant_text
from tests.reliability import figures

SCALE = float(os.environ.get("RELIABILITY_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("RELIABILITY_FUZZ_RANDOM") == "1"
KNOWN_KINDS = {"local", "anaconda", "psm", "quetz", "prefix", "artifactory", "s3"}


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        suppress_health_check=list(HealthCheck),
    )


class Tally:
    """Counts the cases run and any exception that is not a CipubError."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cases = 0
        self.refused = 0
        self.unexpected: list[str] = []
        self.multi_line: list[str] = []

    def call(self, fn: Callable[[], Any]) -> Any:
        self.cases += 1
        try:
            return fn()
        except CipubError as exc:
            self.refused += 1
            assert exc.exit_code in EXIT_CODES and exc.exit_code >= 2, exc
            assert exc.message.strip(), f"{type(exc).__name__} without a message"
            if "\n" in exc.message.strip():
                self.multi_line.append(exc.message)
            return None
        except Exception as exc:
            self.unexpected.append(f"{type(exc).__name__}: {exc}")
            raise

    def record(self) -> None:
        figures.record(
            "fuzz",
            self.name,
            cases=self.cases,
            refused_cleanly=self.refused,
            accepted=self.cases - self.refused - len(self.unexpected),
            tracebacks=len(self.unexpected),
            multi_line_messages=len(self.multi_line),
        )


# -- strategies ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "0", "1.0", "${{ name }}", "{{ version }}", "{% if x %}", "<%", "\x00", "..", "/", "~"]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
yaml_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "version",
                    "number",
                    "noarch",
                    "skip",
                    "build",
                    "package",
                    "outputs",
                    "requirements",
                    "run",
                    "host",
                    "context",
                    "script",
                    "if",
                    "then",
                    "else",
                    "string",
                    "recipe",
                    "source",
                    "about",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@st.composite
def recipe_documents(draw: st.DrawFn) -> dict[str, Any]:
    name = st.one_of(st.just("fuzz-pkg"), st.just("fuzz-pkg"), scalars)
    version = st.one_of(st.just("1.0"), st.just("1.0"), scalars)
    doc: dict[str, Any] = {
        "package": draw(
            st.one_of(
                st.fixed_dictionaries({"name": name, "version": version}),
                st.fixed_dictionaries({"name": name, "version": version}),
                yaml_values,
            )
        ),
    }
    if draw(st.booleans()):
        doc["build"] = draw(st.one_of(st.fixed_dictionaries({"number": scalars, "noarch": scalars}), yaml_values))
    if draw(st.booleans()):
        doc["context"] = draw(st.dictionaries(st.text(min_size=1, max_size=8), scalars, max_size=3))
    if draw(st.booleans()):
        doc["outputs"] = draw(st.one_of(st.lists(yaml_values, max_size=3), yaml_values))
    return doc


@st.composite
def recipe_texts(draw: st.DrawFn) -> str:
    """YAML (valid or broken), with jinja, selectors and random garbage mixed in."""
    doc = draw(recipe_documents())
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        text = str(doc)
    lines = text.splitlines()
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.integers(0, len(lines)))
        lines.insert(
            where,
            draw(
                st.sampled_from(
                    [
                        "{% set version = '1.0' %}",
                        "{% set x = load_setup_py_data() %}",
                        "{{ undefined_thing }}",
                        "  number: 1  # [linux]",
                        "  number: 2  # [win and py<3]",
                        "  skip: true  # [not osx]",
                        "  - foo  # [py>=38 and (",
                        "{% for x in y %}",
                        "{{ 1/0 }}",
                        "{{ ''.__class__.__mro__ }}",
                        "{{ environ['HOME'] }}",
                        "\t bad indent",
                        ": :",
                        "&a [*a]",
                        "!!python/object:os.system 'echo pwned'",
                    ]
                )
                | st.text(max_size=40)
            ),
        )
    return "\n".join(lines) + "\n"


@st.composite
def variant_texts(draw: st.DrawFn) -> str:
    # Mostly well-formed (so the deeper code runs), sometimes hostile.
    good_keys = st.sampled_from(["python", "numpy", "c_compiler", "cuda_compiler_version", "libfoo"])
    bad_keys = st.sampled_from(
        ["zip_keys", "target_platform", "__migrator", "migrator_ts", "pin_run_as_build", "1bad", "a-b", ""]
    ) | st.text(max_size=8)
    keys = st.one_of(good_keys, good_keys, good_keys, bad_keys)
    good_selectors = st.sampled_from(["", "", "  # [linux]", "  # [win]", "  # [py>=311]", "  # [osx and arm64]"])
    bad_selectors = st.sampled_from(["  # [unknown_var]", "  # [(]", "  # [1/0]", "  # [__import__('os')]"])
    selectors = st.one_of(good_selectors, good_selectors, good_selectors, bad_selectors)
    good_values = st.sampled_from(["3.10", "3.11", "3.12", "1.26", "gcc", "12", "None"])
    values = st.one_of(good_values, good_values, scalars.map(str), st.lists(st.text(max_size=5), max_size=3).map(str))
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        key = draw(keys)
        lines.append(f"{key}:")
        for _ in range(draw(st.integers(0, 4))):
            value = draw(values)
            lines.append(f"  - {value}{draw(selectors)}")
        if not draw(st.integers(0, 5)):
            lines.append(draw(st.text(max_size=30)))
    if draw(st.booleans()):
        lines += ["zip_keys:", "  - [python, numpy]" if draw(st.booleans()) else "  - " + draw(st.text(max_size=12))]
    return "\n".join(lines) + "\n"


def valid_manifest_dict(tmp: Path) -> dict[str, Any]:
    entry = {
        "filename": "demo-1.0-h0000000_0.conda",
        "subdir": "noarch",
        "name": "demo",
        "version": "1.0",
        "build": "h0000000_0",
        "build_number": 0,
        "noarch": "generic",
        "sha256": "0" * 64,
        "size": 10,
        "path": str(tmp / "demo-1.0-h0000000_0.conda"),
    }
    data = Manifest().to_dict()
    data["artifacts"] = [entry]
    return data


@st.composite
def mutated_manifests(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 4))):
        container: Any = data
        path_keys: list[Any] = []
        # walk down a random path
        while isinstance(container, (dict, list)) and container and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(container) if isinstance(container, dict) else range(len(container))))
            path_keys.append(key)
            if not isinstance(container[key], (dict, list)):
                break
            container = container[key]
        target = data
        for key in path_keys[:-1]:
            target = target[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path_keys:
            if action == "replace":
                return draw(json_values)
            continue
        last = path_keys[-1]
        if action == "replace":
            target[last] = draw(json_values)
        elif action == "delete":
            del target[last]
        elif isinstance(target, dict):
            target[draw(st.text(max_size=10))] = draw(json_values)
    return data


urls = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, sep, netloc, path: f"{scheme}{sep}{netloc}{path}",
        st.sampled_from(
            [
                "",
                "http",
                "https",
                "file",
                "s3",
                "quetz+http",
                "quetz+https",
                "psm+https",
                "anaconda+http",
                "prefix+https",
                "artifactory+https",
                "ftp",
                "QUETZ+HTTPS",
                "quetz+ftp",
                "x+y+z",
                "+",
                "a+",
            ]
        ),
        st.sampled_from(["://", ":", ":/", ":///", "//", ""]),
        st.one_of(
            st.text(alphabet="abc.-_:@[]0123456789%/?#", max_size=25),
            st.sampled_from(
                [
                    "anaconda.org",
                    "prefix.dev",
                    "127.0.0.1:8080",
                    "[::1]:80",
                    "[::1",
                    "host:99999",
                    "user:pw@host",
                    "host:-1",
                    "h\x00st",
                    "xn--d1acufc.xn--p1ai",
                ]
            ),
        ),
        st.one_of(st.text(max_size=25), st.sampled_from(["", "/", "/owner", "/a/b", "/a/../b", "?q=1", "#frag"])),
    ),
)


# -- tests --------------------------------------------------------------------------------------


def test_target_urls() -> None:
    tally = Tally("target URLs (parse_target)")

    @fuzz_settings(2500)
    @given(urls)
    def run(raw: str) -> None:
        target = tally.call(lambda: parse_target(raw))
        if target is not None:
            assert target.kind in KNOWN_KINDS
            assert "@" not in target.base.split("://")[-1].split("/")[0] or target.kind == "local"

    try:
        run()
    finally:
        tally.record()


def test_variant_files() -> None:
    tally = Tally("variant files")

    @fuzz_settings(800)
    @given(variant_texts(), st.sampled_from(["linux-64", "osx-arm64", "win-64", "noarch"]))
    def run(text: str, platform: str) -> None:
        parsed = tally.call(lambda: parse_variant_text(text, Path("conda_build_config.yaml"), platform))
        if parsed is not None:
            tally.call(lambda: expand(parsed.config, list(parsed.config.values)))

    try:
        run()
    finally:
        tally.record()


def test_variant_overrides() -> None:
    tally = Tally("--variant overrides")

    @fuzz_settings(500)
    @given(st.text(max_size=40) | st.builds(lambda k, v: f"{k}={v}", st.text(max_size=8), st.text(max_size=20)))
    def run(text: str) -> None:
        tally.call(lambda: parse_override(text))

    try:
        run()
    finally:
        tally.record()


@pytest.mark.parametrize("recipe_file", ["recipe.yaml", "meta.yaml"])
def test_recipes(recipe_file: str) -> None:
    tally = Tally(f"recipes ({recipe_file})")

    @fuzz_settings(500)
    @given(recipe_texts(), st.sampled_from(["linux-64", "win-64", "osx-arm64"]))
    def run(text: str, platform: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / recipe_file).write_text(text, encoding="utf-8")
            tally.call(lambda: load_recipe(Path(tmp), target_platform=platform))

    try:
        run()
    finally:
        tally.record()


def test_manifest_documents(tmp_path: Path) -> None:
    tally = Tally("manifests (mutated documents)")
    base = valid_manifest_dict(tmp_path)

    @fuzz_settings(800)
    @given(mutated_manifests(base) | json_values)
    def run(data: Any) -> None:
        path = tmp_path / "m.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        tally.call(lambda: manifest_mod.load(path))

    try:
        run()
    finally:
        tally.record()


def test_manifest_bytes(tmp_path: Path) -> None:
    tally = Tally("manifests (raw bytes)")

    @fuzz_settings(500)
    @given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
    def run(raw: bytes) -> None:
        path = tmp_path / "m.json"
        path.write_bytes(raw)
        tally.call(lambda: manifest_mod.load(path))

    try:
        run()
    finally:
        tally.record()


def test_cli_with_hostile_manifests_and_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole CLI, in-process: documented exit codes only, never 'internal error' or a traceback."""
    from cipub.cli import main

    tally = Tally("CLI upload/promote --dry-run")
    base = valid_manifest_dict(tmp_path)
    documented = set(EXIT_CODES) - {1}
    local_targets = st.one_of(
        st.just(str(tmp_path / "chan")),
        # no "/" in the tail: every local path stays inside tmp_path
        st.text(alphabet="abc.-_: ", max_size=15).map(lambda t: str(tmp_path / "c") + t),
        st.sampled_from(["", " ", "file://", "quetz+ftp://x/y", "https://example.invalid/a/b", "x+https://h/c"]),
    )

    @fuzz_settings(300)
    @given(mutated_manifests(base), local_targets, st.sampled_from(["upload", "promote"]))
    def run(data: Any, target: str, command: str) -> None:
        path = tmp_path / "fuzz-manifest.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        tally.cases += 1
        code = main([command, "--manifest", str(path), "--target", target, "--dry-run"])
        captured = capsys.readouterr()
        text = captured.out + captured.err
        if code not in documented or "Traceback" in text or "internal error" in text:
            tally.unexpected.append(f"exit {code}: {text[-500:]}")
            raise AssertionError(f"exit {code} for {command} {target!r}:\n{text}")
        if code:
            tally.refused += 1

    try:
        run()
    finally:
        tally.record()

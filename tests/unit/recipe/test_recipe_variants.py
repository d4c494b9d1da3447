"""Variant files: merging, zip_keys, migrations, overrides, and precise errors on bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cipub.core.errors import RecipeError, UsageError
from cipub.recipe.variants import (
    apply_overrides,
    expand,
    load_variant_files,
    parse_override,
    parse_variant_text,
)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_selectors_per_platform_and_strings_kept(tmp_path: Path) -> None:
    cbc = write(
        tmp_path / "conda_build_config.yaml",
        """\
        python:
          - 3.10     # [not win]
          - 3.12
        numpy:
          - 1.10
        flag:
          - true
        cdt_name: cos7  # [linux]
        """,
    )
    linux = load_variant_files([cbc], "linux-64")
    assert linux.values == {"python": ["3.10", "3.12"], "numpy": ["1.10"], "flag": ["true"], "cdt_name": ["cos7"]}
    win = load_variant_files([cbc], "win-64")
    assert win.values["python"] == ["3.12"] and "cdt_name" not in win.values


def test_later_files_win_key_by_key(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", "python: ['3.10', '3.11']\nnumpy: ['1.26', '2.0']\nzip_keys: [[python, numpy]]\n")
    b = write(tmp_path / "b.yaml", "numpy: ['2.1', '2.2']\nopenssl: ['3']\n")
    config = load_variant_files([a, b], "linux-64")
    assert config.values == {"python": ["3.10", "3.11"], "numpy": ["2.1", "2.2"], "openssl": ["3"]}
    assert config.zip_keys == [["python", "numpy"]]
    assert config.origins["numpy"] == f"{b}:1"


def test_variants_yaml_if_then_else_items(tmp_path: Path) -> None:
    v = write(
        tmp_path / "variants.yaml",
        """\
        python:
          - "3.11"
          - if: osx
            then: ["3.12", "3.13"]
            else: "3.9"
        """,
    )
    assert load_variant_files([v], "osx-arm64", recipe_format="v1").values["python"] == ["3.11", "3.12", "3.13"]
    assert load_variant_files([v], "linux-64", recipe_format="v1").values["python"] == ["3.11", "3.9"]


def test_comment_selectors_only_in_cbc_files_for_v1(tmp_path: Path) -> None:
    # rattler-build reads `# [..]` only in files named conda_build_config.yaml
    other = write(tmp_path / "pins.yaml", "python:\n  - 3.10  # [osx]\n  - 3.11\n")
    assert load_variant_files([other], "linux-64", recipe_format="v1").values["python"] == ["3.10", "3.11"]
    assert load_variant_files([other], "linux-64", recipe_format="v0").values["python"] == ["3.11"]


def test_expand_zip_product_and_partners(tmp_path: Path) -> None:
    cbc = write(
        tmp_path / "c.yaml",
        """\
        python: ["3.10", "3.11", "3.12"]
        numpy: ["2.0", "2.0", "2.1"]
        is_python_min: ["true", "false", "false"]
        blas: [openblas, mkl]
        unused: [a, b, c]
        zip_keys:
          - [python, numpy, is_python_min]
        """,
    )
    config = load_variant_files([cbc], "linux-64")
    combos = expand(config, ["python", "numpy", "blas"])
    assert len(combos) == 6
    assert combos[0].used == {"blas": "openblas", "numpy": "2.0", "python": "3.10"}
    assert combos[0].partners == {"is_python_min": "true"}
    # a zip group used through one key only still dedupes on that key
    assert [c.used for c in expand(config, ["numpy"])] == [{"numpy": "2.0"}, {"numpy": "2.1"}]
    assert [c.used for c in expand(config, [])] == [{}]


def test_overrides(tmp_path: Path) -> None:
    cbc = write(tmp_path / "c.yaml", "python: ['3.10', '3.11']\nnumpy: ['1.26', '2.0']\nzip_keys: [[python, numpy]]\n")
    config = load_variant_files([cbc], "linux-64")
    apply_overrides(config, {"python": ["3.11"]})  # a subset keeps its zip partner
    assert config.values == {"python": ["3.11"], "numpy": ["2.0"]}
    config = load_variant_files([cbc], "linux-64")
    with pytest.raises(RecipeError, match=r"--variant python: python is zipped with numpy .*c\.yaml:3"):
        apply_overrides(config, {"python": ["3.13"]})
    assert parse_override("python=3.11, 3.12") == ("python", ["3.11", "3.12"])
    for bad in ("python", "=3", "python=", "py thon=3", "python=3,,4"):
        with pytest.raises(UsageError):
            parse_override(bad)


def test_key_add_migration_extends_zip_group(tmp_path: Path) -> None:
    pins = write(
        tmp_path / "pins.yaml",
        """\
        python: ["3.11.* *_cpython", "3.12.* *_cpython"]
        is_python_min: [true, false]
        is_freethreading: [false]
        channel_sources: [conda-forge]
        zip_keys:
          - [python, is_python_min]
        """,
    )
    migration = write(
        tmp_path / "python313t.yaml",
        """\
        migrator_ts: 1
        __migrator:
          operation: key_add
          primary_key: python
          additional_zip_keys: [is_freethreading]
        python: ["3.13.* *_cp313t"]
        is_python_min: [false]
        is_freethreading: [true]
        """,
    )
    version = write(tmp_path / "hdf5.yaml", "migrator_ts: 0\n__migrator: {kind: version}\nhdf5: ['2', '1.14']\n")
    config = load_variant_files([migration, version, pins], "linux-64")  # migrations apply last
    assert config.values["python"][-1] == "3.13.* *_cp313t"
    assert config.values["is_freethreading"] == ["false", "false", "true"]
    assert config.values["is_python_min"] == ["true", "false", "false"]
    assert config.zip_keys == [["python", "is_python_min", "is_freethreading"]]
    assert config.values["hdf5"] == ["2", "1.14"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("python:\n  - 3.10\n  bad: [\n", r"v\.yaml:3: invalid YAML"),
        (
            "python: [3.10, 3.11]\nnumpy: [1.26]\nzip_keys: [[python, numpy]]\n",
            r"v\.yaml:3: zip_keys group \[python, numpy\] has unequal lengths: python has 2 \(.*v\.yaml:1\), "
            r"numpy has 1",
        ),
        ("python:\n  - 3.10  # [lnux]\n", r"v\.yaml:2: selector \[lnux\]: unknown name 'lnux'"),
        ("python:\n  - 3.10  # [linux and]\n", r"v\.yaml:2: selector \[linux and\]: not a valid selector"),
        ("python: [3.10]\npython: [3.11]\n", r"v\.yaml:2: duplicate key 'python' \(first at .*v\.yaml:1\)"),
        ("python: []\n", r"v\.yaml:1: 'python' has no values"),
        ("python:\n  - [3.10, 3.11]\n", r"v\.yaml:2: 'python': a value cannot be a list"),
        ("zip_keys: [[a, b], [b, c]]\na: [1]\nb: [1]\nc: [1]\n", r"v\.yaml:1: zip_keys: 'b' is in two groups"),
        ("zip_keys: python\n", r"v\.yaml:1: zip_keys must be a list of lists"),
        ("- just\n- a list\n", r"v\.yaml:1: a variant file must be a mapping"),
        (
            "python:\n  - 3.10\n  - if: linux\n    them: [3]\n",
            r"v\.yaml:3: a list item mapping must be if:/then:/else:",
        ),
        ("'bad key!': [1]\n", r"v\.yaml:1: 'bad key!' is not a valid variant key"),
    ],
)
def test_malformed_variant_files_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "v.yaml", text)
    with pytest.raises(RecipeError, match=message) as info:
        load_variant_files([path], "linux-64")
    assert info.value.exit_code == 3


def test_missing_variant_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="variant file does not exist"):
        load_variant_files([tmp_path / "nope.yaml"], "linux-64")


def test_line_numbers_survive_dropped_selector_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "v.yaml", "a:\n  - 1  # [osx]\n  - 2  # [osx]\nb: [\n")
    with pytest.raises(RecipeError, match=r"v\.yaml:\d+: invalid YAML"):
        load_variant_files([path], "linux-64")


# -- fuzzing -----------------------------------------------------------------------------------------

FRAGMENTS = [
    "python:",
    "numpy:",
    "zip_keys:",
    "  - 3.10",
    "  - 3.11  # [linux]",
    "  - 2.0  # [osx and arm64]",
    "  - - python",
    "    - numpy",
    "  -",
    "  - [python, numpy]",
    "  - if: linux",
    "    then: [1]",
    "    else: 2",
    "  - x  # [lnux]",
    "  - y  # [(]",
    "  - z  # [os.environ.get('X', 'a') == 'a']",
    "__migrator: {operation: key_add, primary_key: python}",
    "migrator_ts: 12",
    "pin_run_as_build: {python: {max_pin: x.x}}",
    "key: [",
    "key: ]",
    "  bad indent: 1",
    "'quoted': \"value\"",
    "- top level",
    "&anchor a: *anchor",
    "!!python/object:os.system x: 1",
    "\t",
    "",
    "# comment",
    "k: {a: 1}",
    "k: null",
    "k: ~",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.sampled_from(FRAGMENTS), max_size=12),
    platform=st.sampled_from(["linux-64", "osx-arm64", "win-64"]),
)
def test_fuzz_structured_lines_never_crash(lines: list[str], platform: str) -> None:
    text = "\n".join(lines) + "\n"
    for cbc in (True, False):
        try:
            parse_variant_text(text, Path("fuzz.yaml"), platform, cbc_format=cbc, environ={})
        except RecipeError as exc:
            assert str(exc).startswith("fuzz.yaml"), str(exc)
            assert exc.exit_code == 3


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_fuzz_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse_variant_text(text, Path("fuzz.yaml"), "linux-64", environ={})
    except RecipeError as exc:
        assert "fuzz.yaml" in str(exc)


values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.*_ ", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and not s.startswith(("*", "."))
)


@settings(max_examples=200, deadline=None)
@given(
    config=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
            lambda k: k not in ("zip_keys", "null", "true", "false", "yes", "no", "on", "off", "y", "n")
        ),
        st.lists(values, min_size=1, max_size=4),
        max_size=5,
    )
)
def test_fuzz_round_trip(config: dict[str, list[str]]) -> None:
    text = yaml.safe_dump({k: [str(v) for v in vs] for k, vs in config.items()})
    parsed = parse_variant_text(text, Path("rt.yaml"), "linux-64", environ={})
    assert parsed.config.values == config
    product = 1
    for vs in config.values():
        product *= len(dict.fromkeys(vs))
    assert len(expand(parsed.config, config)) == product

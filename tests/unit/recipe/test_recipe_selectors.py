"""Selector evaluation: conda-build's names, no code execution, precise errors."""

from __future__ import annotations

import pytest

from cipub.core.errors import RecipeError
from cipub.recipe.selectors import SelectorError, evaluate, select_lines, selector_namespace


@pytest.mark.parametrize(
    ("selector", "platform", "variant", "expected"),
    [
        ("linux", "linux-64", {}, True),
        ("linux", "osx-arm64", {}, False),
        ("osx and arm64", "osx-arm64", {}, True),
        ("unix", "osx-64", {}, True),
        ("win", "win-64", {}, True),
        ("win64", "win-64", {}, True),
        ("x86_64", "linux-64", {}, True),
        ("x86_64", "linux-aarch64", {}, False),
        ("aarch64 or ppc64le", "linux-ppc64le", {}, True),
        ("linux64", "linux-64", {}, True),
        ("linux_aarch64", "linux-aarch64", {}, True),
        ("not win", "linux-64", {}, True),
        ("py<312", "linux-64", {"python": "3.11"}, True),
        ("py>=312", "linux-64", {"python": "3.12.* *_cpython"}, True),
        ("py3k", "linux-64", {"python": "3.9"}, True),
        ("np >= 20", "linux-64", {"numpy": "2.0"}, True),
        ('target_platform == "linux-aarch64"', "linux-aarch64", {}, True),
        ('target_platform.startswith("osx")', "osx-64", {}, True),
        ('blas_impl == "mkl"', "linux-64", {"blas_impl": "mkl"}, True),
        ('os.environ.get("CF_CUDA_ENABLED", "False") == "True"', "linux-64", {}, False),
        ('environ.get("HOME") is not None or True', "linux-64", {}, True),
    ],
)
def test_evaluate(selector: str, platform: str, variant: dict[str, str], expected: bool) -> None:
    assert evaluate(selector, selector_namespace(platform, variant, environ={})) is expected


@pytest.mark.parametrize(
    "selector",
    [
        "linx",  # a typo is an error, not a silently dropped line
        "__import__('os').system('true')",
        "().__class__",
        "open('x')",
        "lambda: 1",
        "linux and",
    ],
)
def test_unsafe_or_unknown_selectors_are_refused(selector: str) -> None:
    with pytest.raises(SelectorError):
        evaluate(selector, selector_namespace("linux-64", environ={}))


def test_unknown_names_in_lenient_mode() -> None:
    ns = selector_namespace("linux-64")
    assert not evaluate("some_key", ns, unknown_is_false=True)
    assert evaluate("not some_key", ns, unknown_is_false=True)
    assert evaluate("linux or some_key", ns, unknown_is_false=True)
    # comparing or calling an undefined name makes the whole selector false
    assert not evaluate("py<37", ns, unknown_is_false=True)
    assert not evaluate("cuda_compiler_version != 'None'", ns, unknown_is_false=True)
    assert not evaluate('fft_impl.startswith("mkl")', ns, unknown_is_false=True)
    with pytest.raises(SelectorError):
        evaluate("py<37", ns)


def test_select_lines_drops_false_lines_and_maps_lines() -> None:
    text = "a:\n  - 1  # [linux]\n  - 2  # [osx]\n  # a comment [osx]\n  - 3\n"
    selected = select_lines(text, selector_namespace("linux-64"), source="f.yaml")
    assert selected.text == "a:\n  - 1\n  # a comment [osx]\n  - 3\n"
    assert selected.line_map == (1, 2, 4, 5)
    assert selected.source_line(3) == 4


def test_flow_lists_are_not_selectors() -> None:
    selected = select_lines("k: [a, b]\n", selector_namespace("linux-64"), source="f.yaml")
    assert selected.text == "k: [a, b]\n"


def test_select_lines_error_names_file_and_line() -> None:
    with pytest.raises(RecipeError, match=r"cbc\.yaml:3: selector \[lnux\]: unknown name 'lnux'"):
        select_lines("a:\n  - 1\n  - 2  # [lnux]\n", selector_namespace("linux-64"), source="cbc.yaml")


def test_current_platform_names_this_machine_as_py_rattler_does() -> None:
    from rattler import Subdir

    from cipub.recipe.selectors import current_platform

    assert current_platform() == str(Subdir.current())

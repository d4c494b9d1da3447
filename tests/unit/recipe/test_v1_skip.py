"""``skip:`` conditions of a v1 recipe drop exactly the variants they name, as rattler-build's own
Jinja (minijinja, asked through py-rattler-build) evaluates them with the rendered, typed values."""

from __future__ import annotations

from pathlib import Path

from cipub.policy.plan import cells_for_platform, native_values, variant_config_for
from cipub.recipe import load_recipe


def test_single_output_skip_drops_the_variants_it_names(tmp_path: Path) -> None:
    recipe_dir = tmp_path / "r"
    recipe_dir.mkdir()
    (recipe_dir / "recipe.yaml").write_text(
        "package: {name: skipdemo, version: '1.0'}\n"
        'build:\n  skip:\n    - match(python, "<3.11")\n    - win and vc < 14\n'
        "requirements:\n  host: [python]\n"
    )
    variants = tmp_path / "variants.yaml"
    variants.write_text("python: ['3.10', '3.11', '3.12']\nvc: ['9']\n")
    recipe = load_recipe(recipe_dir, target_platform="linux-64", variant_files=[variants])
    config = variant_config_for(recipe, "linux-64", [variants], {})
    cells = cells_for_platform(recipe, "linux-64", config)
    assert sorted(c.combo.used["python"] for c in cells) == ["3.11", "3.12"]


def test_each_set_of_named_values_is_asked_once_however_many_variants(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Six variants (python x numpy) and two conditions that name python only: rattler-build's Jinja
    is asked about each python once per condition, not about every variant."""
    from cipub.recipe import v1

    asked: list[tuple[str, tuple[tuple[str, object], ...]]] = []
    original = v1._condition_holds

    def counting(condition, target_platform, variables):  # type: ignore[no-untyped-def]
        asked.append((condition, tuple(sorted(variables.items()))))
        return original(condition, target_platform, variables)

    monkeypatch.setattr(v1, "_condition_holds", counting)
    recipe_dir = tmp_path / "r"
    recipe_dir.mkdir()
    (recipe_dir / "recipe.yaml").write_text(
        "package: {name: skiponce, version: '1.0'}\n"
        "build:\n  skip:\n    - python == '3.10'\n    - win and python == '3.11'\n"
        "requirements:\n  host: [python, numpy]\n"
    )
    variants = tmp_path / "variants.yaml"
    variants.write_text("python: ['3.10', '3.11']\nnumpy: ['1', '2', '3']\n")
    recipe = load_recipe(recipe_dir, target_platform="linux-64", variant_files=[variants])
    config = variant_config_for(recipe, "linux-64", [variants], {})
    cells = cells_for_platform(recipe, "linux-64", config)
    assert sorted(c.combo.used["numpy"] for c in cells) == ["1", "2", "3"]
    assert {c.combo.used["python"] for c in cells} == {"3.11"}
    assert sorted(asked) == [
        ("python == '3.10'", (("python", "3.10"),)),
        ("python == '3.10'", (("python", "3.11"),)),
        ("win and python == '3.11'", (("python", "3.11"),)),
    ]


def _rattler_build_jinja(expression: str, variant: dict[str, object]) -> bool:
    """``expression`` as rattler-build's own Jinja (minijinja) evaluates it for ``variant``: the
    ``if:`` of a variant file, read by py-rattler-build, is the same Jinja a build's ``skip:`` runs."""
    from rattler_build import JinjaConfig, VariantConfig

    text = f"__probe:\n  - if: {expression}\n    then: [true]\n    else: [false]\n"
    loaded = VariantConfig.from_yaml_with_context(text, JinjaConfig(variant=variant)).to_dict()
    return bool(loaded["__probe"][0])


def _planned(tmp_path: Path, skip: str, variants_text: str, key: str = "vc") -> list[str]:
    recipe_dir = tmp_path / "r"
    recipe_dir.mkdir(exist_ok=True)
    (recipe_dir / "recipe.yaml").write_text(
        f"package: {{name: skiptyped, version: '1.0'}}\nbuild:\n  skip:\n    - {skip}\n"
        f"  script: echo ${{{{ {key} }}}}\n"
    )
    variants = tmp_path / "variants.yaml"
    variants.write_text(variants_text)
    recipe = load_recipe(recipe_dir, target_platform="linux-64", variant_files=[variants])
    config = variant_config_for(recipe, "linux-64", [variants], {})
    natives = native_values(recipe, "linux-64", [variants], {})
    return sorted(c.combo.used[key] for c in cells_for_platform(recipe, "linux-64", config, natives=natives))


def test_a_quoted_number_in_a_variant_file_stays_text_in_skip(tmp_path: Path) -> None:
    """``vc: ['9', '15']`` (quoted) is text for rattler-build, and ``vc < 14`` compares a string with
    a number: minijinja does not convert one to the other, it orders values of different kinds by
    kind (a number before a string), so ``"9" < 14`` is false and no variant is skipped; its
    command line builds both (tests/integration/plan/test_skip_typed_values.py). cipub turned any
    text that looked like an integer into an int first, and skipped ``vc=9``."""
    from cipub.recipe.v1 import typed_file_values

    variants = "vc: ['9', '15']\n"
    assert _planned(tmp_path, "vc < 14", variants) == ["15", "9"]
    typed = typed_file_values(tmp_path / "variants.yaml", "linux-64")
    assert typed == {"vc": ["9", "15"]}  # rattler-build's own reading: text
    assert not any(_rattler_build_jinja("vc < 14", {"vc": v}) for v in typed["vc"])


def test_an_unquoted_number_in_a_variant_file_is_a_number_in_skip(tmp_path: Path) -> None:
    """``vc: [9, 15]`` (unquoted) is the numbers 9 and 15 for rattler-build: ``vc < 14`` skips 9."""
    assert _planned(tmp_path, "vc < 14", "vc: [9, 15]\n") == ["15"]
    assert _rattler_build_jinja("vc < 14", {"vc": 9}) and not _rattler_build_jinja("vc < 14", {"vc": 15})


def test_a_very_long_number_like_text_is_no_traceback(tmp_path: Path) -> None:
    """5,000 digits, quoted: text for rattler-build (its build makes the package); cipub's int()
    of it raised ValueError (Python's 4,300-digit limit), an internal error with exit 1."""
    long = "9" * 5000
    assert _planned(tmp_path, "vc < 14", f"vc: ['{long}']\n") == [long]


def test_match_of_an_empty_value_is_a_condition_that_does_not_hold(tmp_path: Path) -> None:
    """rattler-build's ``match('', spec)`` fails (``malformed version string '': empty string``) and
    its build takes the failed condition as not holding, silently (``not match(...)`` does not skip
    either; tests/integration/plan/test_skip_typed_values.py builds it). cipub raised IndexError."""
    import pytest

    with pytest.raises(Exception, match="empty string"):
        _rattler_build_jinja("match(python, '<3.11')", {"python": ""})
    assert _planned(tmp_path, "match(python, '<3.11')", "python: ['', '3.10', '3.12']\n", "python") == ["", "3.12"]
    assert _planned(tmp_path, "not match(python, '<3.11')", "python: ['', '3.12']\n", "python") == [""]
    assert _planned(tmp_path, "match(python, '<3.11')", "python: ['   ']\n", "python") == ["   "]


def test_hostile_variant_values_in_skip_are_no_traceback(tmp_path: Path, cipub) -> None:  # type: ignore[no-untyped-def]
    """null, unicode, 5,000 digits, 10,000 letters: each variant is kept exactly when rattler-build's
    own Jinja does not skip it (a condition it cannot evaluate, a match() of 'ünï' or of 5,000 digits,
    does not hold; 'null', read by cipub as the text 'None', and the letters match '<3' there)."""
    digits, letters = "9" * 5000, "x" * 10000
    condition = "match(vc, '<3')"
    values = f"vc: [null, 'ünï', '{digits}', '15', '{letters}']\n"
    assert _planned(tmp_path, condition, values) == sorted(["ünï", digits, "15"])
    assert _planned(tmp_path, "vc < 14", values) == sorted(["None", "ünï", digits, "15", letters])  # text < number

    def rattler_build_skips(value: str) -> bool:
        try:
            return _rattler_build_jinja(condition, {"vc": value})
        except Exception:  # rattler-build's build: a condition that fails does not hold
            return False

    assert [v for v in ["null", "None", "ünï", digits, "15", letters] if not rattler_build_skips(v)] == [
        "ünï",
        digits,
        "15",
    ]
    # a list is no variant value: rattler-build refuses it too ("expected scalar but got non-scalar")
    recipe_dir = tmp_path / "r"
    (tmp_path / "variants.yaml").write_text("vc: [[1, 2]]\n")
    done = cipub("plan", str(recipe_dir), "-m", str(tmp_path / "variants.yaml"), "-p", "linux-64", cwd=tmp_path)
    assert done.code == 3 and "Traceback" not in done.err and "'vc'" in done.err, done.err

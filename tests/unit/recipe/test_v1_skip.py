"""``skip:`` conditions of a v1 recipe drop exactly the variants they name (Jinja evaluates them;
``match()`` is py-rattler's version matching)."""

from __future__ import annotations

from pathlib import Path

from cipub.policy.plan import cells_for_platform, variant_config_for
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


def test_each_skip_condition_is_compiled_once_however_many_variants(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import jinja2.sandbox

    from cipub.recipe import v1

    compiled: list[str] = []
    original = jinja2.sandbox.SandboxedEnvironment.compile_expression

    def counting(self, source, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(source)
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.sandbox.SandboxedEnvironment, "compile_expression", counting)
    v1._compiled_condition.cache_clear()
    recipe_dir = tmp_path / "r"
    recipe_dir.mkdir()
    (recipe_dir / "recipe.yaml").write_text(
        "package: {name: skiponce, version: '1.0'}\n"
        "build:\n  skip:\n    - python == '3.10'\n    - win and python == '3.11'\n"
        "requirements:\n  host: [python]\n"
    )
    variants = tmp_path / "variants.yaml"
    variants.write_text("python: ['3.10', '3.11', '3.12', '3.13']\n")
    recipe = load_recipe(recipe_dir, target_platform="linux-64", variant_files=[variants])
    config = variant_config_for(recipe, "linux-64", [variants], {})
    cells = cells_for_platform(recipe, "linux-64", config)
    assert sorted(c.combo.used["python"] for c in cells) == ["3.11", "3.12", "3.13"]
    assert sorted(compiled) == ["python == '3.10'", "win and python == '3.11'"]

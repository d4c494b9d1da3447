"""cipub plan vs conda-smithy: each feedstock's linux-64 cells, from the same variant files.

The corpus (``<repo>/../shared/data/conda-forge``) holds conda-forge-pinning's
conda_build_config.yaml, the feedstocks' own ones and migrations, and the ``.ci_support`` files
conda-smithy rendered with conda-build. The recipes are cipub's own minimal meta.yaml files
(``tests/data/corpus-recipes``), written from each feedstock's FACTS.md. Planned with the same
files, they must give exactly the cells of ``ci_support/linux_64_*.yaml`` on the keys that vary,
and the same constant values for the keys both sides have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cipub.policy.plan import make_plan
from cipub.recipe import load_recipe
from cipub.recipe.v0 import load_yaml_strings
from cipub.recipe.variants import value_text

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "data" / "conda-forge"
RECIPES = REPO / "tests" / "data" / "corpus-recipes"
#: the pinning version each feedstock was rendered with (README.md / FACTS.md of the corpus)
PINNING = {
    "wrapt": "2026.03.05.22.30.2",
    "cyl1tf": "2023.09.29.05.06.46",
    "lxml": "2026.05.18.21.58.5",
    "tomopy": "2026.05.11.02.48.5",
    "h5py": "2026.08.17.07.23.37",
    "cryptography": "2026.06.09.19.17.0",
}
#: what conda-smithy writes that is not a variant value
NOT_VARIANTS = {"zip_keys", "pin_run_as_build", "target_platform"}


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(
            f"the conda-forge corpus is missing: expected it at {CORPUS} "
            "(the shared data directory next to the repository, ../shared/data/conda-forge)"
        )
    return CORPUS


def expected_cells(feedstock: Path, platform: str) -> list[dict[str, str]]:
    """One cell per index of each file of the platform (a file may hold several zipped values)."""
    cells: list[dict[str, str]] = []
    files = sorted((feedstock / "ci_support").glob(f"{platform.replace('-', '_')}_*.yaml"))
    assert files, f"{feedstock}: no ci_support files for {platform}"
    for path in files:
        data = load_yaml_strings(path.read_text())
        lists = {
            k: [value_text(v) for v in vs] for k, vs in data.items() if k not in NOT_VARIANTS and isinstance(vs, list)
        }
        width = max(len(v) for v in lists.values())
        for i in range(width):
            cells.append({k: (vs[i] if len(vs) == width else vs[0]) for k, vs in lists.items()})
    return cells


def corpus_environ(recipe_text: str, platform: str) -> dict[str, str]:
    """What conda-smithy sets before reading the variant files (corpus README, step 1)."""
    environ = {"BUILD_PLATFORM": platform}
    if any(re.search(r"compiler\(['\"]cuda['\"]\)", line.split("#", 1)[0]) for line in recipe_text.splitlines()):
        environ["CF_CUDA_ENABLED"] = "True"
    return environ


def variant_files(corpus: Path, name: str) -> list[Path]:
    pinning = corpus / "pinning" / PINNING[name]
    files = [pinning / "conda_build_config.yaml"]
    local = corpus / name / "recipe_conda_build_config.yaml"
    if local.is_file():
        files.append(local)
    # conda-smithy uses the pinning's copy of each migration the feedstock carries
    files += [
        pinning / "migrations" / m.name for m in sorted((corpus / name / "ci_support" / "migrations").glob("*.yaml"))
    ]
    return files


CASES = [(name, "linux-64") for name in sorted(PINNING)] + [
    # osx files are in the corpus too; cryptography's osx jobs split per python (noarch outputs
    # are dropped there), which is how cipub plans every platform
    (name, platform)
    for name in sorted(PINNING)
    for platform in ("osx-64", "osx-arm64")
    if name != "cyl1tf" or platform == "osx-64"
]


@pytest.mark.parametrize(("name", "platform"), CASES)
def test_cells_match_conda_smithy(corpus: Path, name: str, platform: str) -> None:
    recipe = load_recipe(RECIPES / name, target_platform=platform)
    plan = make_plan(
        recipe,
        variant_configs=variant_files(corpus, name),
        overrides={},
        platforms=[platform],
        channel=None,
        environ=corpus_environ(recipe.path.read_text(), platform),
    )
    expected = expected_cells(corpus / name, platform)
    varying = sorted(k for k in expected[0] if len({c[k] for c in expected}) > 1)
    expected_set = {tuple(c[k] for k in varying) for c in expected}
    mine = [cell.variant for cell in plan.cells]
    assert all(cell.platform == platform and cell.noarch is None for cell in plan.cells)
    missing = [k for k in varying if any(k not in v for v in mine)]
    assert not missing, f"{name}: cipub's cells lack {missing}"
    assert {tuple(v[k] for k in varying) for v in mine} == expected_set
    assert len(mine) == len(expected_set), f"{name}: cipub splits on more keys than conda-smithy"
    # ids name the varying keys (channel_sources is a convention, not a recipe key: left out, as
    # conda-smithy's file names do), and are unique
    for cell in plan.cells:
        assert all(f"-{k}" in cell.id for k in varying if k != "channel_sources"), cell.id
    assert len(set(plan.ids)) == len(plan.ids)
    # constant values agree for every key both sides have
    constants = {k: expected[0][k] for k in expected[0] if k not in varying}
    for variant in mine:
        for key, value in constants.items():
            if key in variant:
                assert variant[key] == value, f"{name}: {key} is {variant[key]!r}, conda-smithy has {value!r}"


def test_every_linux_feedstock_varies(corpus: Path) -> None:
    for name in PINNING:
        expected = expected_cells(corpus / name, "linux-64")
        assert any(len({c[k] for c in expected}) > 1 for k in expected[0]), name

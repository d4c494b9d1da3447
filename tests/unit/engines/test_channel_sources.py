"""``channel_sources`` in a build's variant config name its channels; the engines pass no others.

rattler-build refuses ``channels`` beside a variant config's ``channel_sources`` ("cannot both be
set"), and conda-smithy passes no ``-c`` for them: the worker request (host and container) gives
no channels then, and the recipe tests solve from the channel_sources.
"""

from __future__ import annotations

from pathlib import Path

from cipub.engines.base import BuildRequest, engine_channels, variant_channel_sources
from cipub.engines.container import ContainerOptions, ContainerRattlerBuildEngine
from cipub.engines.rattler_build import _worker_request
from cipub.recipe import load_recipe

RECIPE = "package: {name: demo, version: '1.0'}\nbuild:\n  number: 0\n  noarch: generic\n"


def _request(tmp_path: Path, own: str | None = None, **fields: object) -> BuildRequest:
    (tmp_path / "recipe").mkdir(exist_ok=True)
    (tmp_path / "recipe" / "recipe.yaml").write_text(RECIPE)
    if own is not None:
        (tmp_path / "recipe" / "variants.yaml").write_text(own)
    recipe = load_recipe(tmp_path / "recipe", target_platform="linux-64")
    fields.setdefault("channels", ("conda-forge",))
    return BuildRequest(recipe=recipe, output_dir=tmp_path / "out", **fields)  # type: ignore[arg-type]


def test_no_channel_sources_leaves_the_channels_to_c(tmp_path: Path) -> None:
    request = _request(tmp_path)
    assert variant_channel_sources(request) == ()
    assert engine_channels(request) == (["conda-forge"], ["conda-forge"])


def test_the_pinning_the_recipe_file_and_m_files_stack_as_the_engine_reads_them(tmp_path: Path) -> None:
    pinning = tmp_path / "pinning.yaml"
    pinning.write_text("channel_sources:\n  - conda-forge/label/dev,conda-forge\n")
    assert variant_channel_sources(_request(tmp_path, pinning=pinning)) == ("conda-forge/label/dev", "conda-forge")
    # the recipe's own file is above the pinning, a -m file above both
    own = "channel_sources:\n  - ./own\n"
    assert variant_channel_sources(_request(tmp_path, own, pinning=pinning)) == ("./own",)
    given = tmp_path / "m.yaml"
    given.write_text("channel_sources:\n  - ./given\n")
    assert variant_channel_sources(_request(tmp_path, own, pinning=pinning, variant_configs=(given,))) == ("./given",)


def test_a_cells_value_wins_and_a_jobs_values_join_once(tmp_path: Path) -> None:
    request = _request(tmp_path, "channel_sources:\n  - ./own\n", variant_overrides={"channel_sources": ["a,b", "b"]})
    assert variant_channel_sources(request) == ("a", "b")


def test_the_worker_gets_no_channels_and_tests_solve_from_the_sources(tmp_path: Path) -> None:
    request = _request(tmp_path, variant_overrides={"channel_sources": ["./deps"]})
    worker = _worker_request(request, tmp_path / "out", [])
    assert worker["channel"] is None
    assert worker["test_channels"] == [(tmp_path / "out").as_uri(), "./deps"]
    plain = _worker_request(_request(tmp_path), tmp_path / "out", [])
    assert plain["channel"] == ["conda-forge"]


def test_in_a_container_a_local_channel_source_is_mounted_where_the_variant_file_names_it(tmp_path: Path) -> None:
    deps = tmp_path / "deps"
    deps.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    engine = ContainerRattlerBuildEngine(ContainerOptions("image"))
    request = _request(tmp_path, variant_overrides={"channel_sources": [deps.as_uri()]})
    volumes, worker = engine._mounts(request, tmp_path / "out", scratch, [])
    assert worker["channel"] is None
    assert volumes[str(deps.resolve())] == {"bind": str(deps), "mode": "ro"}
    assert worker["test_channels"][1:] == [str(deps)]
    # channels from -c keep their container paths
    volumes, worker = engine._mounts(_request(tmp_path, channels=(str(deps),)), tmp_path / "out", scratch, [])
    assert worker["channel"] == ["/cipub/channels/0"]

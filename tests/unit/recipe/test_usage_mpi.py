"""conda-smithy's rule for MPI: wherever ``mpi`` is used, the pins of every MPI provider stay in the
cell (its ``_collapse_subpackage_variants``), even on a platform whose ``mpi`` needs none of them."""

from __future__ import annotations

from cipub.recipe import usage


def test_mpi_brings_the_provider_pins_that_the_variant_files_define() -> None:
    known = {"mpi", "mpich", "openmpi", "impi", "channel_sources", "python"}
    assert usage.implied_keys({"mpi"}, known) == {"mpich", "openmpi", "impi", "channel_sources"}


def test_without_mpi_only_the_always_kept_keys() -> None:
    assert usage.implied_keys({"python"}, {"mpich", "openmpi", "python"}) == set()
    assert usage.implied_keys({"python"}, {"github_actions_labels"}) == {"github_actions_labels"}

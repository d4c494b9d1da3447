"""Build numbers compare versions as conda does (py-rattler): ``1.0`` and ``1.0.0`` are one version."""

from __future__ import annotations

from pathlib import Path

from cipub.channels.base import package_of, same_version
from tests.unit.test_buildnumber import LocalChannel, decide, seeded


def test_versions_are_equal_as_conda_says() -> None:
    assert same_version("1.0", "1.0.0")
    assert not same_version("1.0", "1.0.1")
    assert not same_version("1.0a", "1.0")
    assert same_version("not a version!", "not a version!")
    assert package_of("demo-1.0.0-h0_3.conda", "demo", "1.0") == ("demo", "1.0.0", "h0_3")


def test_a_channel_build_of_1_0_0_bumps_a_recipe_of_1_0(tmp_path: Path) -> None:
    chan: LocalChannel = seeded(tmp_path, 3)  # demo 1.0 build 3
    decision = decide(chan, "demo", "1.0.0", 0)
    assert (decision.channel_highest, decision.chosen) == (3, 4)

from __future__ import annotations

from pathlib import Path

from cipub.channels.local import LocalChannel
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.policy.buildnumber import decide, unify
from cipub.policy.publish import upload
from tests.support.packages import make_package


def seeded(tmp_path: Path, *numbers: int) -> LocalChannel:
    chan = LocalChannel(tmp_path / "ch")
    pkgs = [make_package(tmp_path, "demo", "1.0", n, subdir="linux-64" if n % 2 else "noarch") for n in numbers]
    upload(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in pkgs]), chan, "test")
    return chan


def test_absent_keeps_recipe_number(tmp_path: Path) -> None:
    d = decide(LocalChannel(tmp_path / "empty"), "demo", "1.0", 2)
    assert (d.chosen, d.channel_highest) == (2, None)


def test_bumps_past_highest_across_subdirs_and_labels(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 0, 3)
    d = decide(chan, "demo", "1.0", 0)
    assert (d.channel_highest, d.chosen) == (3, 4)
    assert "bumped to 4" in d.reason


def test_recipe_number_above_channel_wins(tmp_path: Path) -> None:
    assert decide(seeded(tmp_path, 1), "demo", "1.0", 9).chosen == 9


def test_explicit_and_no_bump(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 5)
    assert decide(chan, "demo", "1.0", 0, explicit=2).chosen == 2
    assert decide(chan, "demo", "1.0", 0, no_bump=True).chosen == 0


def test_other_versions_do_not_count(tmp_path: Path) -> None:
    assert decide(seeded(tmp_path, 5), "demo", "2.0", 0).chosen == 0


def test_unify_takes_the_highest(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 1)
    assert unify([decide(chan, "demo", "1.0", 0), decide(chan, "other", "1.0", 0)]) == 2

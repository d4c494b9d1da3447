"""A package placed in a local channel by hand whose index.json claims a build number no package
may carry (10**30, ``true``, negative) must not become the channel's highest build: the red team's
file made every later ``cipub build`` of that package fail (rattler-build: int too big)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cipub.channels.local import LocalChannel
from cipub.policy.buildnumber import decide
from tests.support.packages import make_package


@pytest.mark.parametrize("claimed", [10**30, True, -5, "7", 2**31])
def test_an_impossible_build_number_on_the_channel_is_passed_over(tmp_path: Path, claimed: object) -> None:
    channel = tmp_path / "chan"
    good = make_package(tmp_path / "made", "demo", "1.0", 2, build_string="h0_2", tar_bz2=True)
    bad = make_package(tmp_path / "made", "demo", "1.0", 4, build_string="h1_4", payload="other", tar_bz2=True)
    _rewrite_build_number(bad, claimed)
    for package in (good, bad):
        (channel / "label" / "test" / "noarch").mkdir(parents=True, exist_ok=True)
        shutil.copy(package, channel / "label" / "test" / "noarch" / package.name)

    numbers = sorted(f.build_number for f in LocalChannel(channel).files("demo", "1.0"))
    if _refused(bad):
        # not a package cipub accepts: like indexing, listing passes over it (and reports it), so it
        # counts neither by its claim nor at all
        assert numbers == [2]
        decision = decide(LocalChannel(channel), "demo", "1.0", 0)
        assert decision.channel_highest == 2 and decision.chosen == 3
    else:
        assert numbers == [2, 4]  # the bad file counts by its name's _4 suffix, never by its claim
        decision = decide(LocalChannel(channel), "demo", "1.0", 0)
        assert decision.channel_highest == 4 and decision.chosen == 5


def _refused(package: Path) -> bool:
    from cipub.core.artifact import read_artifact
    from cipub.core.errors import InvalidPackageError

    try:
        read_artifact(package)
    except InvalidPackageError:
        return True
    return False


def _rewrite_build_number(package: Path, claimed: object) -> None:
    """Repack ``package`` (a .tar.bz2) with ``build_number`` in info/index.json set to ``claimed``."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(package, "r:bz2") as src, tarfile.open(fileobj=out, mode="w:bz2") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if member.name == "info/index.json" and data is not None:
                index = json.loads(data)
                index["build_number"] = claimed
                data = json.dumps(index).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    package.write_bytes(out.getvalue())

"""Issue 18 class 7 on every kind of target: a command that lost a race to an identical one (it
read the channel before the other wrote) still exits 0, because a byte-identical file is never a
conflict. The race is made deterministic: the loser's first state read is the state the winner saw
before writing, exactly what two commands started at once both read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cipub.policy import promote as promote_policy
from cipub.policy import publish as publish_policy
from tests.conformance.conftest import _fast_retries, run, servers, target  # noqa: F401 - fixtures
from tests.conformance.test_conformance import Runner, key, ok, packages, receipts, sha, upload
from tests.reliability import figures
from tests.support.targets import TargetHandle

#: targets whose label add says nothing about whether the label was there already
NATIVE_LABELS = ("anaconda", "psm")


class StaleFirstRead:
    """Replaces ``channel_state`` in a policy module: records the first read of each command, and
    can serve a recorded read in place of the next command's first one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
        self.real: Callable[..., Any] = module.channel_state
        self.recorded: Any = None
        self.serve: Any = None
        monkeypatch.setattr(module, "channel_state", self)

    def __call__(self, channel: Any, entries: Any) -> Any:
        if self.serve is not None:
            served, self.serve = self.serve, None
            return served
        state = self.real(channel, entries)
        if self.recorded is None:
            self.recorded = state
        return state


def test_identical_upload_that_lost_the_race_exits_0(
    run: Runner,  # noqa: F811 - the conformance fixtures, imported above
    target: TargetHandle,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = packages(tmp_path, ("race-a", "1.0", 0, "a"), ("race-b", "1.0", 0, "b"))
    stale = StaleFirstRead(monkeypatch, publish_policy)
    won = ok(upload(run, files))  # the winner; its first read (empty channel) is recorded
    assert receipts(won) == dict.fromkeys(map(key, files), "uploaded")
    stale.serve = stale.recorded  # the loser read the same empty channel
    lost = upload(run, files)
    # exit 0: the same bytes are there, whoever wrote them; and the loser says it did not write them
    # (the channel answered "already there", under the local channel's lock or by the server's 409)
    assert receipts(ok(lost)) == dict.fromkeys(map(key, files), "skipped-identical"), lost.err
    assert target.state()["test"] == {key(f): sha(f) for f in files}
    figures.record("hardening", f"7 concurrency: lost upload race ({target.kind})", cases=1, held=1)


@pytest.mark.parametrize("move", [False, True], ids=["copy", "move"])
def test_identical_promotion_that_lost_the_race_exits_0(
    run: Runner,  # noqa: F811
    target: TargetHandle,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    move: bool,
) -> None:
    files = packages(tmp_path, ("race-p", "1.0", 0, "p"), ("race-q", "1.0", 0, "q"))
    ok(upload(run, files))
    stale = StaleFirstRead(monkeypatch, promote_policy)
    args = ("promote", "--json", *(["--move"] if move else []))
    ok(run(*args))  # the winner
    stale.serve = stale.recorded  # the loser saw the files in test only
    lost = ok(run(*args))
    # and says the winner promoted them, not itself, where the target tells (its copy was there);
    # a native-label server (anaconda.org, PSM) answers a label add alike whether it was there
    if target.kind not in NATIVE_LABELS and not move:
        assert set(receipts(lost, "promotions").values()) == {"already-promoted"}, lost
    state = target.state()
    assert state["main"] == {key(f): sha(f) for f in files}
    if move:
        assert not state.get("test")
    figures.record(
        "hardening", f"7 concurrency: lost promote{' --move' if move else ''} race ({target.kind})", cases=1, held=1
    )

"""Issue 4 faults and tokens on the anaconda.org-protocol server, through the cipub CLI.

The server's own fault hook fails 30 % of requests (500/502/503, 429, resets before the request is
handled, resets after it was handled -- the answer is lost --, stalls past cipub's read timeout);
uploading 40 packages must still end with all 40 present exactly once with the right sha256.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.artifact import read_artifact
from tests.servers.anaconda_server import FAULT_KINDS, FaultPlan
from tests.support.anaconda_target import TOKEN, AnacondaHandle, anaconda_target
from tests.support.packages import make_package
from tests.support.publish_flows import Cipub

pytestmark = pytest.mark.integration

#: short read timeout so stalls cost little; enough retries that 30 % faults cannot exhaust them
#: (a request fails for good with probability 0.3**11, about 2e-6)
FAULTY_ENV = {"CIPUB_READ_TIMEOUT": "1", "CIPUB_RETRIES": "10", "CIPUB_BACKOFF": "0.01"}


def test_forty_uploads_through_30_percent_faults_land_exactly_once(
    cipub: Cipub, anaconda: AnacondaHandle, tmp_path: Path
) -> None:
    server = anaconda.server
    assert server is not None
    packages = [make_package(tmp_path, f"flaky{i:02d}", "1.0", 0, payload=f"content {i}") for i in range(40)]
    expected = {f"noarch/{p.name}": read_artifact(p).sha256 for p in packages}
    server.faults = FaultPlan(rate=0.3, kinds=FAULT_KINDS, seed=20261121, stall_seconds=1.5)

    result = cipub(
        "upload",
        *map(str, packages),
        "--target",
        anaconda.url,
        "--label",
        "test",
        cwd=tmp_path,
        env={**anaconda.env, **FAULTY_ENV},
    )
    injected = dict(server.faults.injected)
    server.faults = None

    assert result.code == 0, result.err
    assert set(injected) == set(FAULT_KINDS), injected  # every kind of fault really happened
    records = server.file_records(anaconda.owner)
    assert sorted(r.basename for r in records) == sorted(expected)  # all 40, none twice
    assert {r.basename: r.sha256 for r in records} == expected
    assert all(r.labels == {"test"} for r in records)
    assert not server.verify_storage()  # the stored bytes are the bytes that were built
    assert TOKEN not in result.out + result.err


def test_server_down_for_good_exits_7_after_the_retry_budget(cipub: Cipub, tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "lonely", "1.0", 0)
    with anaconda_target(tmp_path) as handle:
        assert handle.server is not None
        handle.server.stop()
        result = cipub(
            "upload",
            str(pkg),
            "--target",
            handle.url,
            cwd=tmp_path,
            env={**handle.env, "CIPUB_RETRIES": "2", "CIPUB_BACKOFF": "0.01"},
        )
    assert result.code == 7, result.err
    assert "after 2 retries" in result.err and "Traceback" not in result.err
    assert TOKEN not in result.out + result.err


def test_a_server_that_always_fails_gets_exactly_the_retry_budget(
    cipub: Cipub, anaconda: AnacondaHandle, tmp_path: Path
) -> None:
    server = anaconda.server
    assert server is not None
    pkg = make_package(tmp_path, "unlucky", "1.0", 0)
    server.faults = FaultPlan(rate=1.0, kinds=("503",))
    server.clear_requests()
    result = cipub(
        "upload",
        str(pkg),
        "--target",
        anaconda.url,
        cwd=tmp_path,
        env={**anaconda.env, "CIPUB_RETRIES": "3", "CIPUB_BACKOFF": "0.01"},
    )
    server.faults = None
    assert result.code == 7, result.err
    # the first request (the state query) is tried once and retried 3 times, then cipub stops
    assert server.requests == [("GET", f"/package/{anaconda.owner}/unlucky")] * 4
    assert anaconda.state() == {}


def test_tokens_missing_or_refused_exit_5_without_showing_the_token(
    cipub: Cipub, anaconda: AnacondaHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN", "ANACONDA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    pkg = make_package(tmp_path, "guarded", "1.0", 0)
    args = ("upload", str(pkg), "--target", anaconda.url)

    missing = cipub(*args, cwd=tmp_path, env={})
    assert missing.code == 5, missing.err
    assert all(v in missing.err for v in ("ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN", "ANACONDA_API_KEY"))

    wrong = "wrong-token-0a9b8c7d6e5f"
    refused = cipub(*args, cwd=tmp_path, env={"BINSTAR_API_TOKEN": wrong})
    assert refused.code == 5, refused.err
    assert "token is invalid" in refused.err  # the server's own words
    assert wrong not in refused.out + refused.err

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    from_file = cipub(*args, "--token-file", str(token_file), cwd=tmp_path, env={})
    assert from_file.code == 0, from_file.err
    assert TOKEN not in from_file.out + from_file.err
    assert set(anaconda.state()) == {"test"}

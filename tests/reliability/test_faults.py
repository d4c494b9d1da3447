"""Faults between cipub and every server: the fault proxy fails 30% of requests (5xx, 429 with
Retry-After, resets while sending or answering, stalls past the read timeout, truncated answers,
and "the server did it but the client never heard" variants), and:

* uploading 40 packages ends with all 40 present exactly once with the right sha256, exit 0;
* promoting them ends with all 40 in ``main``, exit 0;
* with the server down for good, cipub exits 7 and the channel is unchanged;
* with faults beyond the retry budget, cipub exits 7 having published only whole, correct files,
  and a re-run without faults converges.

The truth is read from each server directly (``TargetHandle.state``), never through cipub or the proxy.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability import figures
from tests.reliability.helpers import Batch, make_batch, run_cipub
from tests.reliability.targets import (
    REMOTE_KINDS,
    proxied_handle,
    remote_handle,
    start_shared_servers_here,
    upstream_ports,
)
from tests.support.faultproxy import FAULTS, FaultProxy
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration

PACKAGES = 40
RATE = 0.3
#: cipub's settings for these runs: short read timeout so stalls cost little, enough retries that
#: max_consecutive faults per request can always be outlasted
SETTINGS = {"CIPUB_READ_TIMEOUT": "0.5", "CIPUB_RETRIES": "6", "CIPUB_BACKOFF": "0.05", "CIPUB_CONNECT_TIMEOUT": "2"}
#: a stall holds the connection four times cipub's read timeout (cipub gives up at 0.5 s either way);
#: clients without a read timeout of their own (rattler's S3 indexer) wait this long, then see the
#: connection close, so a longer stall only costs time
STALL = 2.0


@contextlib.contextmanager
def behind_proxies(handle: TargetHandle, **options: object) -> Iterator[tuple[TargetHandle, list[FaultProxy]]]:
    ports = sorted(upstream_ports(handle))
    assert ports, f"no loopback server port found in {handle}"
    with contextlib.ExitStack() as stack:
        proxies = [
            stack.enter_context(FaultProxy(f"http://127.0.0.1:{port}", **options))  # type: ignore[arg-type]
            for port in ports
        ]
        yield proxied_handle(handle, {port: p.port for port, p in zip(ports, proxies)}), proxies


def _faults(proxies: list[FaultProxy]) -> dict[str, int]:
    total: dict[str, int] = {}
    for p in proxies:
        for name, n in p.stats.faults.items():
            total[name] = total.get(name, 0) + n
    return total


def _run(handle: TargetHandle, cwd: Path, *args: str, extra_env: dict[str, str] | None = None):  # noqa: ANN202
    env = {**handle.env, **SETTINGS, **(extra_env or {})}
    return run_cipub(*args, "--target", handle.url, *handle.extra_args, cwd=cwd, env=env, timeout=600)


def _compare(batch: Batch, held: dict[str, str]) -> tuple[int, int]:
    """(files right, files lost or wrong) for the batch in one label's truth."""
    right = sum(1 for key, sha in batch.expected.items() if held.get(key) == sha)
    return right, len(batch.expected) - right


def _phase(proxied: TargetHandle, proxies: list[FaultProxy], cwd: Path, *args: str) -> tuple[int, int | None, str]:
    """Run through the faults; after an exit 7, run again with the faults off (must heal).

    Returns (exit code through faults, exit code of the healing run or None, stderr tails).
    """
    first = _run(proxied, cwd, *args)
    if first.returncode != 7:
        return first.returncode, None, first.stderr[-1500:]
    for p in proxies:
        p.paused = True
    try:
        again = _run(proxied, cwd, *args)
    finally:
        for p in proxies:
            p.paused = False
    return 7, again.returncode, first.stderr[-1000:] + again.stderr[-1000:]


def _through_faults(kind: str, tmp_path: Path) -> list[str]:
    """Upload then promote 40 packages to ``kind`` through 30% faults; return the problems seen."""
    tmp_path.mkdir()
    batch = make_batch(tmp_path / "pkgs", PACKAGES, prefix=f"flt{kind[:3]}")
    problems = []
    with (
        remote_handle(kind, tmp_path) as handle,
        behind_proxies(
            handle, rate=RATE, seed=7, faults=FAULTS, stall_seconds=STALL, retry_after="1", max_consecutive=2
        ) as (proxied, proxies),
    ):
        start = time.monotonic()
        up_code, up_healed, up_err = _phase(proxied, proxies, tmp_path, "upload", "--manifest", str(batch.manifest))
        up_seconds = time.monotonic() - start
        truth = handle.state()
        up_right, up_lost = _compare(batch, truth.get("test", {}))
        wrong = [k for k, sha in truth.get("test", {}).items() if k in batch.expected and batch.expected[k] != sha]
        start = time.monotonic()
        pr_code, pr_healed, pr_err = _phase(
            proxied, proxies, tmp_path, "promote", "--manifest", str(batch.manifest), "--from", "test", "--to", "main"
        )
        promote_seconds = time.monotonic() - start
        truth = handle.state()
        main_right, main_lost = _compare(batch, truth.get("main", {}))
        extra = sorted((set(truth.get("test", {})) | set(truth.get("main", {}))) - set(batch.expected))
        figures.record(
            "faults",
            kind,
            packages=PACKAGES,
            requests=sum(p.stats.requests for p in proxies),
            faults_injected=sum(p.stats.faults_injected for p in proxies),
            fault_kinds=_faults(proxies),
            upload_exit=up_code,
            upload_rerun_exit=up_healed if up_healed is not None else "-",
            promote_exit=pr_code,
            promote_rerun_exit=pr_healed if pr_healed is not None else "-",
            published_right=up_right,
            promoted_right=main_right,
            lost=up_lost + main_lost,
            wrong_sha256=len(wrong),
            unexpected_files=len(extra),
            upload_s=round(up_seconds, 1),
            promote_s=round(promote_seconds, 1),
        )
    for what, code, healed, err in (("upload", up_code, up_healed, up_err), ("promote", pr_code, pr_healed, pr_err)):
        if code not in (0, 7) or (code == 7 and healed != 0):
            problems.append(f"{what} exit {code} (re-run without faults: {healed}): {err}")
        if "Traceback" in err:
            problems.append(f"{what}: a traceback was printed:\n{err[-4000:]}")
    if up_lost or main_lost or extra or wrong:
        problems.append(f"lost in test: {up_lost}, in main: {main_lost}, unexpected: {extra}, wrong sha256: {wrong}")
    return [f"{kind}: {p}" for p in problems]


def test_upload_and_promote_through_faults_on_every_server(tmp_path: Path) -> None:
    """All servers at once (the time goes in timeouts and Retry-After waits, not in CPU)."""
    start_shared_servers_here()
    with ThreadPoolExecutor(max_workers=len(REMOTE_KINDS)) as pool:
        results = list(pool.map(lambda kind: _guarded(_through_faults, kind, tmp_path / kind), REMOTE_KINDS))
    problems = [p for found in results for p in found]
    assert not problems, "\n\n".join(problems)


def _guarded(fn, kind: str, *args: object) -> list[str]:  # noqa: ANN001
    """Run one server's scenario; a failure to even start becomes a problem of that server."""
    try:
        return fn(kind, *args)
    except BaseException as exc:  # pytest.fail raises an OutcomeException (a BaseException)
        import traceback

        return [f"{kind}: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"]


def _down(kind: str, tmp_path: Path) -> list[str]:
    tmp_path.mkdir()
    batch = make_batch(tmp_path / "pkgs", 3, prefix=f"down{kind[:3]}")
    settings = {"CIPUB_RETRIES": "3", "CIPUB_BACKOFF": "0.1"}
    with remote_handle(kind, tmp_path) as handle, behind_proxies(handle) as (proxied, proxies):
        before = handle.state()
        for p in proxies:
            p.down = True
        start = time.monotonic()
        done = _run(proxied, tmp_path, "upload", "--manifest", str(batch.manifest), extra_env=settings)
        elapsed = time.monotonic() - start
        after = handle.state()
    figures.record("down", kind, exit_code=done.returncode, seconds=round(elapsed, 2), unchanged=before == after)
    problems = []
    if done.returncode != 7:
        problems.append(f"exit {done.returncode}, not 7: {done.stderr[-1500:]}")
    if before != after:
        problems.append("the channel changed")
    if "Traceback" in done.stderr or done.stderr.count("cipub: error:") != 1:
        problems.append(f"not one clean error line: {done.stderr[-1500:]}")
    return [f"{kind}: {p}" for p in problems]


def test_server_down_for_good_exits_7_and_changes_nothing(tmp_path: Path) -> None:
    """Connections reset at once, for ever: exit 7 after the retries (3 here), channel unchanged."""
    start_shared_servers_here()
    with ThreadPoolExecutor(max_workers=len(REMOTE_KINDS)) as pool:
        results = list(pool.map(lambda kind: _guarded(_down, kind, tmp_path / kind), REMOTE_KINDS))
    problems = [p for found in results for p in found]
    assert not problems, "\n\n".join(problems)


def test_faults_beyond_the_budget_leave_only_whole_files(tmp_path: Path) -> None:
    """anaconda: 80% faults and 2 retries: exit 7 (or 0), only correct files published; a re-run heals."""
    kind = "anaconda"
    batch = make_batch(tmp_path / "pkgs", 10, prefix="over")
    outcomes = []
    with remote_handle(kind, tmp_path) as handle:
        for seed in range(3):
            with behind_proxies(handle, rate=0.8, seed=seed, faults=FAULTS, stall_seconds=3, retry_after="0") as (
                proxied,
                _proxies,
            ):
                done = _run(
                    proxied,
                    tmp_path,
                    "upload",
                    "--manifest",
                    str(batch.manifest),
                    extra_env={"CIPUB_RETRIES": "2", "CIPUB_READ_TIMEOUT": "1"},
                )
            held = handle.state().get("test", {})
            wrong = [k for k, sha in held.items() if batch.expected.get(k) != sha]
            outcomes.append((done.returncode, len(held), wrong))
            assert done.returncode in (0, 7), done.stderr[-2000:]
            assert not wrong
            assert "Traceback" not in done.stderr
        healed = _run(handle, tmp_path, "upload", "--manifest", str(batch.manifest))
        right, lost = _compare(batch, handle.state().get("test", {}))
    figures.record(
        "faults",
        "anaconda, 80% faults, 2 retries",
        runs=len(outcomes),
        exit_7=sum(code == 7 for code, _, _ in outcomes),
        wrong_files=sum(len(w) for _, _, w in outcomes),
        rerun_exit=healed.returncode,
        lost_after_rerun=lost,
    )
    assert healed.returncode == 0, healed.stderr[-2000:]
    assert (right, lost) == (len(batch.expected), 0)

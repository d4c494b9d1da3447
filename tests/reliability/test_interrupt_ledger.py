"""An upload stopped by SIGINT/SIGTERM midway still exits 130/143, and its ledger record holds the
receipts of the files it did publish (outcome ``failed``, error ``interrupted by SIG...``), so
``cipub status`` and ``cipub promote`` see them before the upload is re-run. Before, the stopped
upload left no record: status said "not in the ledger", promote "nothing staged".

A real cipub process, paused (by a wrapper, not a sleep) at the start of its 6th of 12 uploads, or
as the local channel links the copies it wrote, is sent the signal by the test once it says so."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.helpers import cipub_env, run_cipub
from tests.support.packages import make_package

PACKAGES = 12
PAUSE_AT = 6  # the upload that is interrupted: PAUSE_AT - 1 files are on the channel by then

WRAPPER = """
import sys

from cipub.channels.local import LocalChannel
from cipub.cli import main

method, nth = sys.argv[1].split(":")
real = getattr(LocalChannel, method)
calls = 0


def paused(self, *args, **kwargs):
    global calls
    if method == "_publish" and not self._unpublished:
        return real(self, *args, **kwargs)  # counted only when it has copies to link
    calls += 1
    if calls == int(nth):
        print("PAUSED at", method, calls, flush=True)
        sys.stdin.readline()  # the test sends a signal, never a line
    return real(self, *args, **kwargs)


setattr(LocalChannel, method, paused)
sys.exit(main(sys.argv[2:]))
"""


def staged_on_disk(channel: Path) -> set[str]:
    return {p.name for p in (channel / "label" / "test" / "noarch").glob("*.conda")}


@pytest.mark.parametrize(
    ("signum", "code", "pause", "published_by_then"),
    [
        (signal.SIGINT, 130, f"upload:{PAUSE_AT}", PAUSE_AT - 1),
        (signal.SIGTERM, 143, f"upload:{PAUSE_AT}", PAUSE_AT - 1),
        # every copy written, interrupted as the channel links them to their names: the batch still
        # links what it wrote (each file complete or absent), and each linked file keeps its receipt
        (signal.SIGINT, 130, "_publish:1", PACKAGES),
    ],
)
def test_an_interrupted_upload_records_the_files_it_published(
    tmp_path: Path, signum: int, code: int, pause: str, published_by_then: int
) -> None:
    packages = [str(make_package(tmp_path / "pkgs", f"intr{i:02d}", "1.0", 0)) for i in range(PACKAGES)]
    wrapper = tmp_path / "pausing.py"
    wrapper.write_text(WRAPPER)
    proc = subprocess.Popen(
        [sys.executable, str(wrapper), pause, "upload", *packages],
        cwd=tmp_path,
        env=cipub_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    seen = []
    for line in proc.stdout:  # synchronised on its output: it waits at the 6th upload
        seen.append(line)
        if line.startswith("PAUSED"):
            break
    assert seen and seen[-1].startswith("PAUSED"), seen
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    name = signal.Signals(signum).name
    assert proc.returncode == code, (proc.returncode, err)
    assert f"interrupted by {name}" in err and "Traceback" not in err, err

    channel = tmp_path / ".cipub" / "channel"
    published = staged_on_disk(channel)
    assert len(published) == published_by_then, sorted(published)
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "output" / "cipub-ledger").glob("*.json"))]
    assert [(r["command"], r["outcome"]) for r in records] == [("upload", "failed")], records
    assert records[0]["error"].startswith(f"interrupted by {name} after {published_by_then} file(s)"), records[0]

    receipts = records[0]["manifest"]["uploads"]
    assert {u["filename"] for u in receipts} == published
    assert {u["state"] for u in receipts} == {"uploaded"}

    # what it published is in the ledger now, not only after a re-run
    status = run_cipub("status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    rows = {f["filename"]: f["ledger"] for f in json.loads(status.stdout)["files"]}
    assert {name for name, words in rows.items() if "staged" in words} == published
    # the files it published are not its failures; the ones it did not reach are
    assert {name for name, words in rows.items() if "failed" in words} == set(rows) - published
    planned = run_cipub("promote", "--dry-run", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert f"would promote {published_by_then}" in planned.stdout, planned.stdout

    # the re-run finishes the rest, and promote then takes all of them
    again = run_cipub("upload", *packages, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(staged_on_disk(channel)) == PACKAGES
    planned = run_cipub("promote", "--dry-run", cwd=tmp_path)
    assert f"would promote {PACKAGES}" in planned.stdout, planned.stdout

"""Builds a maintainer can trust and watch (issue 11): real cipub processes, real rattler-build builds.

Recipe tests run by default and stop the publish; the build log reaches stderr with its file; a
missing token stops the build before its script runs; SIGINT/SIGTERM stop a running build at once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.local.test_local_loop import clean_env

pytestmark = pytest.mark.integration


def write_recipe(root: Path, name: str, script: list[str], tests: list[str] | None = None) -> Path:
    recipe = root / "recipe"
    recipe.mkdir(parents=True, exist_ok=True)
    text = (
        f"package: {{name: {name}, version: '1.0'}}\n"
        "build:\n  number: 0\n  noarch: generic\n  script:\n"
        + "".join(f"    - {line}\n" for line in script)
        + "    - mkdir -p $PREFIX/share && echo hi > $PREFIX/share/"
        + name
        + ".txt\n"
    )
    if tests:
        text += "tests:\n  - script:\n" + "".join(f"      - {line}\n" for line in tests)
    (recipe / "recipe.yaml").write_text(text)
    return recipe


def empty_channel(root: Path) -> str:
    """A dependency channel with no packages: builds and recipe tests solve offline."""
    channel = root / "no-deps"
    for subdir in ("noarch", "linux-64"):
        (channel / subdir).mkdir(parents=True, exist_ok=True)
        (channel / subdir / "repodata.json").write_text(
            json.dumps({"info": {"subdir": subdir}, "packages": {}, "packages.conda": {}})
        )
    return channel.as_uri()


def cipub(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if "build" in args:
        args = (*args, "-c", empty_channel(cwd))
    return subprocess.run(
        [sys.executable, "-m", "cipub", *args],
        cwd=cwd,
        env={**clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def channel_packages(root: Path) -> list[str]:
    channel = root / ".cipub" / "channel"
    return sorted(p.name for p in channel.rglob("*.conda")) if channel.exists() else []


def test_a_failing_recipe_test_is_exit_4_with_its_output_and_nothing_published(tmp_path: Path) -> None:
    write_recipe(tmp_path, "tested", ["echo building"], tests=["echo TEST-SAYS-BOOM-7731", "exit 1"])
    proc = cipub("build", "recipe", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert "TEST-SAYS-BOOM-7731" in proc.stderr
    assert "recipe test 1 of 1 failed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert channel_packages(tmp_path) == []
    assert not (tmp_path / "output" / "cipub-manifest.json").exists()
    # the package whose test failed is set aside, as rattler-build does
    assert [p.name for p in (tmp_path / "output" / "broken").glob("*.conda")]

    skipped = cipub("build", "recipe", "--no-test", cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert "recipe tests: skipped" in skipped.stdout
    assert len(channel_packages(tmp_path)) == 1


def test_a_failing_script_shows_its_message_and_the_log_file(tmp_path: Path) -> None:
    write_recipe(tmp_path, "broken", ["echo DISTINCTIVE-FAILURE-9182", "exit 3"])
    proc = cipub("build", "recipe", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    # streamed while it ran, and repeated in the tail the error prints
    assert proc.stderr.count("DISTINCTIVE-FAILURE-9182") >= 2, proc.stderr
    log = tmp_path / "output" / "cipub-build.log"
    assert str(log) in proc.stderr
    assert "DISTINCTIVE-FAILURE-9182" in log.read_text()
    # -q hides the streamed log; the failure still names what failed
    quiet = cipub("build", "recipe", "-q", cwd=tmp_path)
    assert quiet.returncode == 4
    assert all(line.startswith("cipub: ") for line in quiet.stderr.splitlines()), quiet.stderr
    assert "cipub: | DISTINCTIVE-FAILURE-9182" in quiet.stderr


def test_a_remote_target_without_a_token_stops_before_the_build_script_runs(tmp_path: Path) -> None:
    marker = tmp_path / "script-ran"
    write_recipe(tmp_path, "guarded", [f"touch {marker}"])
    env = {"QUETZ_API_KEY": ""}
    # a port nothing listens on: were the channel asked anything first, this would be exit 7
    proc = cipub("build", "recipe", "--target", "quetz+http://127.0.0.1:9/chan", cwd=tmp_path, env=env)
    assert proc.returncode == 5, proc.stderr
    assert "no token" in proc.stderr and "QUETZ_API_KEY" in proc.stderr
    assert not marker.exists()
    assert "retry" not in proc.stderr


def _wait_for(stream_lines: list[str], proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        stream_lines.append(line)
        if text in line:
            return
    raise AssertionError("".join(stream_lines))


def _running(needle: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle in cmdline.read_bytes().decode(errors="replace"):
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_a_build_stops_it_with_one_line_and_a_rerun_converges(
    tmp_path: Path, signum: int, code: int
) -> None:
    slow = tmp_path / "slow"
    slow.write_text("")
    pause = f"{61 + signum}.4321"  # a sleep this test can recognise among the machine's processes
    write_recipe(tmp_path, "sleepy", [f"if [ -f {slow} ]; then echo BUILD-STARTED; sleep {pause}; fi"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "cipub", "build", "recipe", "-c", empty_channel(tmp_path)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        _wait_for(seen, proc, "BUILD-STARTED")  # the build log is streamed: the script is running now
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(seen) + rest
    assert proc.returncode == code, err
    assert "Traceback" not in err
    interrupted = [line for line in err.splitlines() if "interrupted" in line]
    assert len(interrupted) == 1, err
    assert "nothing was uploaded" in interrupted[0] and "re-running" in interrupted[0]
    assert channel_packages(tmp_path) == []
    deadline = time.monotonic() + 10
    while _running(pause) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(pause), "the build script outlived cipub"

    slow.unlink()
    again = cipub("build", "recipe", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(channel_packages(tmp_path)) == 1
    promoted = cipub("promote", cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stderr


def test_the_build_says_whether_recipe_tests_ran(tmp_path: Path) -> None:
    """ "passed" only when there were tests to pass (a cold reviewer saw it for a recipe without any)."""
    untested, tested = tmp_path / "a", tmp_path / "b"
    untested.mkdir()
    tested.mkdir()
    write_recipe(untested, "untested", ["echo building"])
    none = cipub("build", "recipe", cwd=untested)
    assert none.returncode == 0, none.stderr
    assert "recipe tests: none" in none.stdout and "recipe tests: passed" not in none.stdout
    write_recipe(tested, "tested", ["echo building"], tests=["echo fine"])
    ran = cipub("build", "recipe", cwd=tested)
    assert ran.returncode == 0, ran.stderr
    assert "recipe tests: passed (1 of 1 package(s) have tests)" in ran.stdout

"""Pure pieces of issue 11 items 2, 4, 5, 8: heartbeat, colour rules, the log follower, the error
boundary for a closed stdout, and credentials checked before anything is sent."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cipub.cli import main
from cipub.cli._app import state
from cipub.cli._common import Heartbeat, use_color
from cipub.core.errors import StorageError
from cipub.engines.rattler_build import ScriptLogFollower
from tests.reliability.helpers import cipub_cmd, cipub_env
from tests.support.packages import make_package


def test_heartbeat_speaks_only_after_the_silence_and_at_most_every_period() -> None:
    beat = Heartbeat("uploading", every=30.0, now=0.0)
    beat.detail = lambda: "10.0 MB of 200.0 MB sent"
    assert beat.check(29.0) is None
    assert beat.check(30.0) == "cipub: still uploading (30 s, 10.0 MB of 200.0 MB sent)"
    assert beat.check(45.0) is None  # not again before another full period
    beat.alive(50.0)
    assert beat.check(79.0) is None
    assert beat.check(80.0) is not None


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("mode", "environ", "tty", "expected"),
    [
        ("auto", {}, True, True),
        ("auto", {}, False, False),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"CLICOLOR_FORCE": "1"}, False, True),
        ("never", {"CLICOLOR_FORCE": "1"}, True, False),
        ("always", {"NO_COLOR": "1"}, False, True),
    ],
)
def test_color_follows_the_flag_then_no_color_and_clicolor_force(
    mode: str, environ: dict[str, str], tty: bool, expected: bool
) -> None:
    state.color = mode
    try:
        assert use_color(_Tty() if tty else io.StringIO(), environ) is expected
    finally:
        state.color = "auto"


def test_color_value_is_checked(cipub: Callable[..., Any]) -> None:
    result = cipub("upload", "--color", "sometimes", "--dry-run")
    assert result.code == 2
    assert "--color 'sometimes'" in result.err


def test_the_follower_streams_only_what_is_written_after_it_started(tmp_path: Path) -> None:
    old = tmp_path / "bld" / "rattler-build_a" / "work" / "conda_build.log"
    old.parent.mkdir(parents=True)
    old.write_text("from an earlier build\n")
    follower = ScriptLogFollower(tmp_path / "bld")
    assert not old.exists()  # rewritten in place by the next build, it could not be told apart
    assert follower.poll() == []
    old.write_text("from an earlier build\n")  # the same output again, as a re-run writes it
    assert follower.poll() == ["from an earlier build"]
    with old.open("a") as fh:
        fh.write("line one\npartial")
    assert follower.poll() == ["line one"]
    with old.open("a") as fh:
        fh.write(" line\n")
    assert follower.poll() == ["partial line"]
    new = tmp_path / "bld" / "rattler-build_b" / "work" / "conda_build.log"
    new.parent.mkdir(parents=True)
    new.write_text("fresh\nunfinished")
    assert follower.poll(final=True) == ["fresh", "unfinished"]


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_is_neither_a_traceback_nor_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    monkeypatch.setattr("cipub.cli._stdout_closed", lambda: StorageError("standard output was closed"))
    code = main(["--version"])
    assert code == 10
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("cipub: error:") == 1


@pytest.mark.parametrize("command", ["upload", "promote"])
def test_writes_to_a_remote_target_check_the_token_before_anything_is_sent(
    cipub: Callable[..., Any], tmp_path: Path, command: str
) -> None:
    package = make_package(tmp_path, "demo")
    assert cipub("upload", str(package), "--target", str(tmp_path / "ch"), cwd=tmp_path).code == 0
    # port 9 refuses connections: any request would end in exit 7 after retries, not exit 5
    target = ["--target", "quetz+http://127.0.0.1:9/chan"]
    args = [command, str(package), *target] if command == "upload" else [command, *target]
    result = cipub(*args, cwd=tmp_path, env={"QUETZ_API_KEY": "", "CIPUB_RETRIES": "0"})
    assert result.code == 5, result.err
    assert "no token" in result.err and "QUETZ_API_KEY" in result.err


def test_an_interrupted_upload_starts_no_further_file(tmp_path: Path) -> None:
    import time

    from cipub.channels.local import LocalChannel
    from cipub.core.artifact import read_artifact
    from cipub.core.manifest import ArtifactEntry, Manifest
    from cipub.policy.publish import upload

    class Stop(BaseException):
        pass

    started: list[str] = []

    class Interrupting(LocalChannel):
        def upload(self, artifact: Any, label: str) -> Any:
            started.append(artifact.filename)
            if len(started) == 1:
                raise Stop  # as SIGINT arriving during the first file
            time.sleep(2.0)  # long enough, even on a loaded machine, for the cancel to land first
            return super().upload(artifact, label)

    channel = Interrupting(tmp_path / "ch")
    channel.max_parallel = 2
    packages = [make_package(tmp_path, f"p{i}") for i in range(6)]
    manifest = Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in packages])
    with pytest.raises(Stop):
        upload(manifest, channel, "test")
    # Executor.map cancels what has not started: each file is complete on the target or absent
    assert len(started) <= 3, started  # the one that stopped, the one in flight, at most one more


def test_in_ci_a_long_transfer_prints_heartbeats_with_the_bytes_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from cipub.cli import _common
    from cipub.core.transport import file_chunks

    monkeypatch.setattr(_common, "HEARTBEAT_SECONDS", 0.05)
    blob = tmp_path / "blob.conda"
    blob.write_bytes(b"x" * 3_000_000)
    beats: list[str] = []
    out = _common.Output(as_json=False)
    with out.progress(1, "uploading", total_bytes=3_000_000) as step:
        for _chunk in file_chunks(blob, chunk_size=1_000_000):
            pass
        # the file is "still in flight": wait for the heartbeat thread to speak (no timing asserted)
        for _ in range(100):
            beats += [line for line in capsys.readouterr().err.splitlines() if "still uploading" in line]
            if beats:
                break
            threading.Event().wait(0.05)
        step("uploaded  noarch/blob.conda -> test")
    assert beats and "3.0 MB of 3.0 MB sent" in beats[0], beats
    assert "uploaded  noarch/blob.conda" in capsys.readouterr().out


def test_an_interrupt_during_an_upload_is_one_line_saying_what_it_left(
    cipub: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    from cipub.cli import Interrupted

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise Interrupted(signal.SIGTERM)  # as the handler raises it when the signal arrives

    package = make_package(tmp_path, "demo")
    monkeypatch.setattr("cipub.policy.publish.upload", interrupted)
    result = cipub("upload", str(package), "--target", str(tmp_path / "ch"), cwd=tmp_path)
    assert result.code == 143
    [line] = [line for line in result.err.splitlines() if line]
    assert line.startswith("cipub: interrupted by SIGTERM while uploading to ")
    assert "each file is either complete on the target or absent" in line and "re-running" in line
    assert "Traceback" not in result.err


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_pipe_closed_mid_output_exits_10_also_unbuffered(tmp_path: Path, unbuffered: str) -> None:
    """`cipub plan ... | head -1` with ~290 KB of output: under PYTHONUNBUFFERED=1 the kernel's short
    write used to be dropped by TextIOWrapper, and the cut output exited 0."""
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "meta.yaml").write_text(
        'package:\n  name: fast\n  version: "2.0"\nrequirements:\n  host:\n    - python\n    - foo {{ foo }}\n'
    )
    values = ",".join(str(i) for i in range(1, 4001))
    proc = subprocess.Popen(
        cipub_cmd("plan", "recipe", "--no-build-numbers", "--variant", f"foo={values}"),
        cwd=tmp_path,
        env=cipub_env({"PYTHONUNBUFFERED": unbuffered}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100)  # `| head -1`: read a little, then go away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 10, err
    assert err.count("cipub: error: standard output was closed") == 1 and "Traceback" not in err, err
    assert "redirect the output to a file" in err, err

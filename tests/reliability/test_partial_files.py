"""Issue 18: temporary ``.part`` files and other junk in a directory or bucket channel. An interrupted
upload leaves no ``.part`` behind where it can help it, and neither the index nor a file listing ever
takes a temporary file, a hidden file or a junk object named like a package as a package."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult
from tests.reliability import figures
from tests.reliability.helpers import local_truth
from tests.support.packages import make_package

Cli = Callable[..., CliResult]


def _held(case: str, n: int = 1) -> None:
    figures.record("hardening", f"1 layout: {case}", cases=n, held=n)


def test_ctrl_c_right_after_the_temporary_file_is_made_leaves_no_part(
    cipub: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT arriving between the temporary file's creation and the code that would remove it on
    failure (it is not yet recorded anywhere) left ``.demo-....conda.XXXX.part`` in the label."""
    package = make_package(tmp_path / "pkgs", "demo")
    channel = tmp_path / "ch"
    real_mkstemp = tempfile.mkstemp
    fired: list[str] = []

    def mkstemp_then_ctrl_c(*args: Any, **kwargs: Any) -> tuple[int, str]:
        made = real_mkstemp(*args, **kwargs)
        if str(kwargs.get("suffix")) == ".part" and str(kwargs.get("prefix", "")).startswith(f".{package.name}"):
            fired.append(made[1])
            os.close(made[0])
            os.kill(os.getpid(), signal.SIGINT)  # cipub's handler raises at the next instruction
        return made

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", mkstemp_then_ctrl_c)
        result = cipub("upload", str(package), "--target", str(channel), cwd=tmp_path)
    assert fired, "the upload copied the package through a temporary file"
    assert result.code == 130, result.err
    assert "interrupted by SIGINT" in result.err and "Traceback" not in result.err
    assert not [p for p in channel.rglob("*.part")], sorted(channel.rglob("*"))
    again = cipub("upload", str(package), "--target", str(channel), cwd=tmp_path)
    assert again.code == 0, again.err
    truth = local_truth(channel)
    assert truth.indexed["test"] == {f"noarch/{package.name}"} and not truth.leftovers, truth
    _held("Ctrl-C just after a temporary file was made: no .part left")


def test_hidden_and_temporary_files_are_never_indexed(
    cipub: Cli, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hidden file named like a package (``.x-1.0-0.conda``) went to py-rattler's indexer, which
    panicked: every later command on the channel exited 1 until it was removed by hand."""
    channel = tmp_path / "ch"
    first = make_package(tmp_path / "p1", "good", payload="1")
    assert cipub("upload", str(first), "--target", str(channel), "--label", "main", cwd=tmp_path).code == 0
    noarch = channel / "noarch"
    hidden = noarch / ".hidden-1.0-0.conda"
    hidden.write_bytes(b"not a zip")
    foreign_part = noarch / "good-2.0-0.conda.part"  # another tool's download, not cipub's
    foreign_part.write_bytes(b"half a package")
    stale = noarch / f".{first.name}.abc123.part"  # cipub's own, from a killed run
    stale.write_bytes(b"half")
    second = make_package(tmp_path / "p2", "later", payload="2")
    result = cipub("upload", str(second), "--target", str(channel), "--label", "main", cwd=tmp_path)
    assert result.code == 0, result.err
    repodata = json.loads((noarch / "repodata.json").read_text())
    assert set(repodata["packages.conda"]) == {first.name, second.name}
    assert not repodata.get("packages"), repodata
    assert hidden.is_file() and foreign_part.is_file(), "junk is reported and kept, never deleted silently"
    assert hidden.name in caplog.text, caplog.text
    assert not stale.exists(), "cipub's own temporary file is removed while the channel's lock is held"
    status = cipub("status", "good", "--target", str(channel), "--json", cwd=tmp_path)
    assert status.code == 0, status.err
    assert [f["filename"] for f in json.loads(status.out)["files"]] == [first.name]
    _held("hidden and temporary files in a subdir, later commands", n=3)


def test_s3_listing_skips_junk_objects_like_the_local_target(cipub: Cli, tmp_path: Path) -> None:
    """S3 ``files()`` took any object named like a package: a junk ``good-2.0-0.conda`` was shown
    by status as a package (and a promotion would copy it); now it is skipped and reported."""
    from tests.support.s3_target import s3_client, s3_target, shared_s3

    endpoint = shared_s3()
    with s3_target(tmp_path, server=endpoint) as handle:
        first = make_package(tmp_path / "p1", "good", payload="1")
        up = cipub("upload", str(first), "--target", handle.url, "--label", "test", cwd=tmp_path, env=handle.env)
        assert up.code == 0, up.err
        bucket, prefix = handle.url.removeprefix("s3://").split("/", 1)
        client = s3_client(endpoint)
        junk = f"{prefix}/label/test/noarch/good-2.0-0.conda"
        hidden = f"{prefix}/label/test/noarch/.good-3.0-0.conda"
        part = f"{prefix}/label/test/noarch/good-4.0-0.conda.part"
        for key in (junk, hidden, part):
            client.put_object(Bucket=bucket, Key=key, Body=b"not a zip")
        status = cipub("status", "good", "--target", handle.url, "--json", cwd=tmp_path, env=handle.env)
        assert status.code == 0, status.err
        doc = json.loads(status.out)
        assert [f["filename"] for f in doc["files"]] == [first.name], doc["files"]
        assert {j["path"] for j in doc["junk"]} == {"label/test/noarch/good-2.0-0.conda"}, doc
        second = make_package(tmp_path / "p2", "later", payload="2")
        later = cipub("upload", str(second), "--target", handle.url, "--label", "test", cwd=tmp_path, env=handle.env)
        assert later.code == 0, later.err
        repodata = json.loads(
            client.get_object(Bucket=bucket, Key=f"{prefix}/label/test/noarch/repodata.json")["Body"].read()
        )
        assert set(repodata["packages.conda"]) == {first.name, second.name}, repodata
        assert not repodata.get("packages"), repodata
        for key in (junk, hidden, part):
            client.head_object(Bucket=bucket, Key=key)  # still there: never deleted silently
    _held("junk objects in an S3 listing (files, status)", n=3)

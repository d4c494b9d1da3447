"""The never-force policy and promotion by manifest, on the local directory channel."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from cipub.channels.local import LocalChannel
from cipub.core.artifact import read_artifact
from cipub.core.errors import ConflictError, VerificationError
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.policy.promote import promote
from cipub.policy.publish import upload
from tests.support.packages import make_package


def manifest_of(*paths: Path) -> Manifest:
    return Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in paths])


def snapshot(root: Path) -> dict[str, str]:
    """Every file under the channel with its sha256 (the lock file excluded)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".cipub.lock"
    }


def repodata(root: Path, label: str, subdir: str) -> dict:
    base = root if label == "main" else root / "label" / label
    return json.loads((base / subdir / "repodata.json").read_text())


@pytest.fixture
def chan(tmp_path: Path) -> LocalChannel:
    return LocalChannel(tmp_path / "channel")


def test_upload_then_skip_identical(tmp_path: Path, chan: LocalChannel) -> None:
    m = manifest_of(
        make_package(tmp_path, "demo", "1.0", 0), make_package(tmp_path, "demo", "1.1", 0, subdir="linux-64")
    )
    first = upload(m, chan, "test")
    assert [r.state for r in first] == ["uploaded", "uploaded"]
    second = upload(m, chan, "test")
    assert [r.state for r in second] == ["skipped-identical", "skipped-identical"]
    data = repodata(chan.root, "test", "linux-64")
    assert data["packages.conda"]["demo-1.1-h0000000_0.conda"]["sha256"] == m.artifacts[1].sha256
    assert not (chan.root / "linux-64" / "demo-1.1-h0000000_0.conda").exists()  # not in main


def test_identical_file_gets_missing_label(tmp_path: Path, chan: LocalChannel) -> None:
    m = manifest_of(make_package(tmp_path, "demo", "1.0", 0))
    upload(m, chan, "test")
    receipts = upload(m, chan, "beta")
    assert receipts[0].state == "label-added"
    assert chan.files("demo", "1.0")[0].labels == {"test", "beta"}


def test_conflict_leaves_channel_byte_identical(tmp_path: Path, chan: LocalChannel) -> None:
    upload(manifest_of(make_package(tmp_path / "a", "demo", "1.0", 0, payload="one")), chan, "test")
    before = snapshot(chan.root)
    other = manifest_of(
        make_package(tmp_path / "b", "demo", "1.0", 0, payload="two"),  # same name, other bytes
        make_package(tmp_path / "b", "demo", "2.0", 0),  # would be fine alone: must not be written either
    )
    with pytest.raises(ConflictError, match="different content"):
        upload(other, chan, "test")
    assert snapshot(chan.root) == before


def test_conflict_across_labels(tmp_path: Path, chan: LocalChannel) -> None:
    upload(manifest_of(make_package(tmp_path / "a", "demo", "1.0", 0, payload="one")), chan, "main")
    with pytest.raises(ConflictError):
        upload(manifest_of(make_package(tmp_path / "b", "demo", "1.0", 0, payload="two")), chan, "test")


def test_promote_exactly_the_manifest(tmp_path: Path, chan: LocalChannel) -> None:
    ours = manifest_of(make_package(tmp_path / "a", "demo", "1.0", 1))
    bystanders = manifest_of(
        make_package(tmp_path / "b", "demo", "0.9", 0), make_package(tmp_path / "b", "other", "1.0", 0)
    )
    upload(bystanders, chan, "test")
    upload(ours, chan, "test")
    receipts = promote(ours, chan, "test", "main")
    assert [r.state for r in receipts] == ["promoted"]
    main = repodata(chan.root, "main", "noarch")["packages.conda"]
    assert set(main) == {"demo-1.0-h0000000_1.conda"}
    assert main["demo-1.0-h0000000_1.conda"]["sha256"] == ours.artifacts[0].sha256
    assert set(repodata(chan.root, "test", "noarch")["packages.conda"]) == {
        "demo-1.0-h0000000_1.conda",
        "demo-0.9-h0000000_0.conda",
        "other-1.0-h0000000_0.conda",
    }
    before = snapshot(chan.root)
    again = promote(ours, chan, "test", "main")
    assert [r.state for r in again] == ["already-promoted"]
    assert snapshot(chan.root) == before


def test_promote_move_removes_source_label_only(tmp_path: Path, chan: LocalChannel) -> None:
    ours = manifest_of(make_package(tmp_path / "a", "demo", "1.0", 0))
    bystander = manifest_of(make_package(tmp_path / "b", "other", "1.0", 0))
    upload(ours, chan, "test")
    upload(bystander, chan, "test")
    promote(ours, chan, "test", "main", move=True)
    assert chan.files("demo")[0].labels == {"main"}
    assert set(repodata(chan.root, "test", "noarch")["packages.conda"]) == {"other-1.0-h0000000_0.conda"}
    # idempotent after a move too
    assert [r.state for r in promote(ours, chan, "test", "main", move=True)] == ["already-promoted"]


def test_promote_missing_file_names_it(tmp_path: Path, chan: LocalChannel) -> None:
    present = make_package(tmp_path, "demo", "1.0", 0)
    upload(manifest_of(present), chan, "test")
    m = manifest_of(present, make_package(tmp_path, "demo", "1.0", 5))
    before = snapshot(chan.root)
    with pytest.raises(VerificationError, match=r"noarch/demo-1.0-h0000000_5.conda is not on the channel"):
        promote(m, chan, "test", "main")
    assert snapshot(chan.root) == before


def test_promote_checks_sha256_of_source(tmp_path: Path, chan: LocalChannel) -> None:
    upload(manifest_of(make_package(tmp_path / "a", "demo", "1.0", 0, payload="one")), chan, "test")
    built = manifest_of(make_package(tmp_path / "b", "demo", "1.0", 0, payload="two"))
    with pytest.raises(VerificationError, match="not the file that was built"):
        promote(built, chan, "test", "main")


def test_dry_run_changes_nothing(tmp_path: Path, chan: LocalChannel) -> None:
    m = manifest_of(make_package(tmp_path, "demo", "1.0", 0))
    receipts = upload(m, chan, "test", dry_run=True)
    assert [r.state for r in receipts] == ["planned"]
    assert chan.files("demo") == []
    upload(m, chan, "test")
    before = snapshot(chan.root)
    assert [r.state for r in promote(m, chan, "test", "main", dry_run=True)] == ["planned"]
    assert snapshot(chan.root) == before


def test_file_changed_after_manifest_is_refused(tmp_path: Path, chan: LocalChannel) -> None:
    pkg = make_package(tmp_path, "demo", "1.0", 0, payload="one")
    m = manifest_of(pkg)
    make_package(tmp_path, "demo", "1.0", 0, payload="two")  # rebuilt in place: same path, new bytes
    with pytest.raises(VerificationError, match="does not describe"):
        upload(m, chan, "test")
    assert chan.files("demo") == []


def test_files_reports_build_numbers_across_labels(tmp_path: Path, chan: LocalChannel) -> None:
    upload(manifest_of(make_package(tmp_path, "demo", "1.0", 4)), chan, "main")
    upload(manifest_of(make_package(tmp_path, "demo", "1.0", 7, subdir="linux-64")), chan, "test")
    upload(manifest_of(make_package(tmp_path, "demo-extra", "1.0", 9)), chan, "test")
    files = chan.files("demo", "1.0")
    assert sorted(f.build_number for f in files) == [4, 7]
    assert {f.name for f in files} == {"demo"}


def test_platform_only_upload_still_makes_a_valid_channel(tmp_path: Path, chan: LocalChannel) -> None:
    """conda and rattler refuse a channel whose noarch/repodata.json is missing."""
    upload(manifest_of(make_package(tmp_path, "demo", "1.0", 0, subdir="linux-64")), chan, "test")
    assert repodata(chan.root, "test", "noarch")["packages.conda"] == {}
    published = chan.root / "label" / "test" / "linux-64" / "demo-1.0-h0000000_0.conda"
    assert published.stat().st_mode & 0o777 == 0o644  # readable by a web server serving the channel


def test_channel_path_under_a_file_is_a_usage_error(tmp_path: Path, cipub) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    pkg = make_package(tmp_path, "demo", "1.0", 0)
    result = cipub("upload", str(pkg), "--target", str(blocker / "channel"), cwd=tmp_path)
    assert result.code == 2, result.err
    assert "cannot use" in result.err and "Traceback" not in result.err


def test_read_only_channel_is_a_permission_error(tmp_path: Path, cipub) -> None:
    import os

    if os.geteuid() == 0:
        # root ignores directory modes; prove the mapping on the error type instead
        from cipub.channels.local import storage_errors
        from cipub.core.errors import AuthError

        with pytest.raises(AuthError, match="no permission"), storage_errors(tmp_path):
            raise PermissionError(13, "Permission denied", str(tmp_path / "x"))
        return
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    result = cipub("upload", str(make_package(tmp_path, "demo", "1.0", 0)), "--target", str(root), cwd=tmp_path)
    assert result.code == 5


def test_dry_run_and_reads_write_nothing_in_an_existing_directory(tmp_path: Path) -> None:
    """A mistyped --target pointing at some existing directory must not get files dropped in it."""
    somewhere = tmp_path / "home"
    somewhere.mkdir()
    m = manifest_of(make_package(tmp_path, "demo", "1.0", 0))
    chan = LocalChannel(somewhere)
    upload(m, chan, "test", dry_run=True)
    with chan:
        assert chan.files("demo") == []
    assert list(somewhere.iterdir()) == []


def test_every_copy_is_on_disk_before_any_is_published(
    tmp_path: Path, chan: LocalChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies are flushed while the batch goes on; none is linked to its name before all are durable."""
    # the module the fixture's channel class lives in: a test elsewhere may have re-imported
    # cipub.channels.local (start-up checks drop modules from sys.modules), and a patch of the new
    # module would never reach this channel's code
    local = sys.modules[type(chan).__module__]

    events: list[tuple[str, str]] = []
    flush, link = local._flush_file, os.link

    def flushing(path: Path) -> None:
        flush(path)
        events.append(("flushed", Path(path).name))

    def linking(src: object, dst: object, *args: object, **kwargs: object) -> None:
        link(src, dst, *args, **kwargs)  # type: ignore[arg-type]
        if str(src).endswith(".part"):
            events.append(("published", Path(str(src)).name))

    monkeypatch.setattr(local, "_flush_file", flushing)
    monkeypatch.setattr(local.os, "link", linking)
    m = manifest_of(*(make_package(tmp_path, f"demo{i}", "1.0", 0) for i in range(5)))
    upload(m, chan, "test")
    flushed = [name for what, name in events if what == "flushed"]
    published = [name for what, name in events if what == "published"]
    assert sorted(published) == sorted(flushed) and len(published) == 5
    assert all(what == "flushed" for what, _ in events[:5])  # every flush came before the first link
    assert len(chan.files("demo0")) == 1


def test_a_copy_that_cannot_be_flushed_publishes_nothing(
    tmp_path: Path, chan: LocalChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    # the module the fixture's channel class lives in: a test elsewhere may have re-imported
    # cipub.channels.local (start-up checks drop modules from sys.modules), and a patch of the new
    # module would never reach this channel's code
    local = sys.modules[type(chan).__module__]
    from cipub.core.errors import StorageError

    calls = [0]

    def full_disk(path: Path) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(local, "_flush_file", full_disk)
    m = manifest_of(*(make_package(tmp_path, f"demo{i}", "1.0", 0) for i in range(3)))
    with pytest.raises(StorageError, match="No space left"):
        upload(m, chan, "test")
    left = [p.name for p in chan.root.rglob("*") if p.name.endswith((".conda", ".part"))]
    assert left == []  # neither a package nor a temporary copy
    assert repodata(chan.root, "test", "noarch")["packages.conda"] == {}


def test_an_index_record_of_other_bytes_does_not_give_the_build_number(tmp_path: Path, chan: LocalChannel) -> None:
    """The build number comes from the index only when the record's sha256 is the file's."""
    upload(manifest_of(make_package(tmp_path, "demo", "1.0", 3)), chan, "test")
    index = chan.root / "label" / "test" / "noarch" / "repodata.json"
    data = json.loads(index.read_text())
    record = data["packages.conda"]["demo-1.0-h0000000_3.conda"]
    record["build_number"], record["sha256"] = 42, "0" * 64
    index.write_text(json.dumps(data))
    fresh = LocalChannel(chan.root)
    with fresh:
        assert [f.build_number for f in fresh.files("demo")] == [3]


def test_the_index_leaves_no_scratch_directory_in_a_label(tmp_path: Path, chan: LocalChannel) -> None:
    """py-rattler's index makes an empty ``.tmp`` in the channel root it indexes; a label is one."""
    upload(manifest_of(make_package(tmp_path, "demo", "1.0", 0)), chan, "test")
    assert not (chan.label_dir("test") / ".tmp").exists()
    assert (chan.label_dir("test") / "noarch" / "repodata.json").is_file()


def test_promotion_onto_other_bytes_in_the_destination_is_a_conflict(tmp_path: Path, chan: LocalChannel) -> None:
    """The built file is staged as it should be, but `main` holds other bytes under its name (copied in
    by hand): exit 6 (conflict), with a hint about `main`, not exit 8 about `test` (a cold reviewer's find)."""
    import shutil

    built = make_package(tmp_path / "a", "demo", "1.0", 0, payload="built")
    other = make_package(tmp_path / "b", "demo", "1.0", 0, payload="other")
    m = manifest_of(built)
    upload(m, chan, "test")
    (chan.root / "noarch").mkdir(parents=True, exist_ok=True)
    shutil.copy(other, chan.root / "noarch" / built.name)
    before = snapshot(chan.root)
    with pytest.raises(ConflictError, match="in label 'main' has different content") as refused:
        promote(m, chan, "test", "main")
    assert "'main' already holds other bytes" in (refused.value.hint or "")
    assert snapshot(chan.root) == before


def test_waiting_for_a_held_channel_lock_says_whose_lock(
    tmp_path: Path, cipub, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Another process holding the channel's lock made an upload wait silently (up to LOCK_WAIT):
    after LOCK_NOTICE_AFTER one line says whose lock it waits for. Here the lock is never freed."""
    from filelock import FileLock

    import cipub.channels.local as local

    monkeypatch.setattr(local, "LOCK_NOTICE_AFTER", 0.01, raising=False)
    monkeypatch.setattr(local, "LOCK_WAIT", 0.2)
    channel = tmp_path / "chan"
    channel.mkdir()
    pkg = make_package(tmp_path, "demo", "1.0", 0)
    with FileLock(channel / local.LOCK_NAME):  # another process's batch (its own open file: flock)
        result = cipub("upload", str(pkg), "--target", str(channel), cwd=tmp_path)
    assert result.code == 10, result.err
    assert "another process held the channel's lock" in result.err
    waiting = [r.getMessage() for r in caplog.records if "waiting for another cipub process" in r.getMessage()]
    assert waiting == [f"waiting for another cipub process holding {channel / local.LOCK_NAME} (at most 0 s) ..."]


def test_two_uploads_of_one_manifest_at_once_keep_both_runs_receipts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run reads the manifest, uploads, and writes it back with its receipts: a run that read
    the manifest before another wrote it must not drop the other's receipts (last writer wins)."""
    from cipub.core import manifest as manifest_mod
    from cipub.core.options import Settings
    from cipub.policy import publish as publish_policy
    from cipub.workflows.publish import upload as upload_workflow

    path = manifest_mod.write(manifest_of(make_package(tmp_path, "both", "1.0", 0)), tmp_path / "out" / "m.json")
    real = publish_policy.upload
    meanwhile: list[str] = []

    def racing(manifest: Manifest, channel: LocalChannel, label: str, **kwargs: object) -> object:
        if not meanwhile:  # the first run has read the manifest: the other runs from start to end now
            meanwhile.append(label)
            upload_workflow(Settings(target=str(tmp_path / "other-channel"), label="other", manifest=str(path)))
        return real(manifest, channel, label, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(publish_policy, "upload", racing)
    upload_workflow(Settings(target=str(tmp_path / "channel"), label="test", manifest=str(path)))
    written = manifest_mod.load(path)
    assert sorted((r.label, r.state) for r in written.uploads) == [("other", "uploaded"), ("test", "uploaded")]

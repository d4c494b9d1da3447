"""A publish stopped midway (a cipub error in one file, or Ctrl-C / SIGTERM) keeps the receipts of
the files it did complete in the manifest (cipub.policy.publish.receipts_kept), which the
ledger's record of the failed run then holds. Before, a stopped run's manifest had no receipt."""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.channels.base import ChannelFile, Uploaded
from cipub.core.artifact import Artifact, read_artifact
from cipub.core.errors import NetworkError
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.policy.promote import promote
from cipub.policy.publish import upload
from tests.support.packages import make_package
from tests.unit.test_policy import MemoryChannel, UploadChannel


class FailsOn(UploadChannel):
    """Uploads in 2 threads; the upload of ``bad`` fails."""

    def __init__(self, bad: str) -> None:
        super().__init__()
        self.bad = bad

    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        if artifact.filename.startswith(self.bad):
            raise NetworkError("memory: connection reset")
        return super().upload(artifact, label)


def test_a_failed_upload_keeps_the_receipts_of_the_files_it_uploaded(tmp_path: Path) -> None:
    paths = [make_package(tmp_path, f"kept{i}", "1.0", 0) for i in range(6)]
    manifest = Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in paths])
    channel = FailsOn("kept2-")
    with pytest.raises(NetworkError):
        upload(manifest, channel, "test")
    assert channel.uploaded, "some files went up before the failure"
    assert [r.filename for r in manifest.uploads] == sorted(channel.uploaded)  # in the manifest's order
    assert {r.state for r in manifest.uploads} == {"uploaded"}


class InterruptedAt(MemoryChannel):
    """Ctrl-C arrives while the ``nth`` label is added."""

    def __init__(self, labels: dict[str, dict[str, str]], nth: int) -> None:
        super().__init__(labels)
        self.nth = nth

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        if len(self.calls) + 1 == self.nth:
            raise KeyboardInterrupt
        return super().add_label(file, label, source_label=source_label)


def test_an_interrupted_promotion_keeps_the_receipts_of_the_files_it_promoted() -> None:
    names = [f"demo{i}-1.0-h0_0.conda" for i in range(4)]
    entries = [ArtifactEntry(n, "noarch", n.split("-")[0], "1.0", "h0_0", 0, None, "b" * 64, 1, n) for n in names]
    channel = InterruptedAt({"test": {f"noarch/{n}": "b" * 64 for n in names}}, nth=3)
    manifest = Manifest(artifacts=entries)
    with pytest.raises(KeyboardInterrupt):
        promote(manifest, channel, "test", "main")
    assert [(p.filename, p.state) for p in manifest.promotions] == [(names[0], "promoted"), (names[1], "promoted")]


def test_ctrl_c_in_one_published_callback_still_tells_the_others(tmp_path: Path) -> None:
    """The local channel links its copies at the end of the batch, then says so file by file; a
    Ctrl-C arriving while one "uploaded" line is printed left the later files linked but never
    said, so a stopped upload kept no receipt for them (150 linked, 45 receipts, by hand)."""
    from cipub.channels.local import LocalChannel

    paths = [make_package(tmp_path / "pkgs", f"said{i}", "1.0", 0) for i in range(4)]
    channel = LocalChannel(tmp_path / "ch")
    said: list[str] = []

    def say(name: str) -> None:
        if name.startswith("said1"):
            raise KeyboardInterrupt
        said.append(name)

    with pytest.raises(KeyboardInterrupt), channel:
        for path in paths:
            artifact = read_artifact(path)
            channel.upload(artifact, "test")
            channel.when_published(artifact.subdir, artifact.filename, lambda n=artifact.filename: say(n))
    linked = sorted(p.name for p in (tmp_path / "ch" / "label" / "test" / "noarch").glob("*.conda"))
    assert len(linked) == 4
    assert said == [n for n in linked if not n.startswith("said1")]

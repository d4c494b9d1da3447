"""The upload and promotion decisions (cipub.policy.publish / promote) as pure functions, and the
promote flow on an in-memory channel (no network, no disk). The same decisions on all seven real
kinds of target are proved in tests/conformance/test_conformance.py."""

from __future__ import annotations

from types import TracebackType
from typing import ClassVar

import pytest

from cipub.channels.base import Capabilities, Channel, ChannelFile, Uploaded
from cipub.core.artifact import Artifact
from cipub.core.errors import VerificationError
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.policy.promote import decide_promotion, last_copy_problem, promote, remove_label
from cipub.policy.publish import copy_source, decide_upload

BUILT = "b" * 64
OTHER = "0" * 64
FILENAME = "demo-1.0-h0_0.conda"


def entry(sha: str = BUILT) -> ArtifactEntry:
    return ArtifactEntry(FILENAME, "noarch", "demo", "1.0", "h0_0", 0, None, sha, 1, f"/dist/{FILENAME}")


def copies(**by_label: str) -> ChannelFile:
    return ChannelFile.from_copies("noarch", FILENAME, by_label, build_number=0)


def native(sha: str | None, *labels: str) -> ChannelFile:
    """A file as anaconda.org holds it: one copy carrying labels."""
    return ChannelFile("noarch", FILENAME, "demo", "1.0", "h0_0", 0, sha, frozenset(labels))


# -- upload ------------------------------------------------------------------------------------------
def test_upload_decisions() -> None:
    assert decide_upload(entry(), None, "test").action == "upload"
    assert decide_upload(entry(), copies(test=BUILT), "test").action == "skip"
    labelled = decide_upload(entry(), copies(test=BUILT, rc=BUILT), "main")
    assert (labelled.action, labelled.source_label) == ("add-label", "rc")
    assert decide_upload(entry(), native(BUILT, "test"), "main").source_label == "test"


@pytest.mark.parametrize(
    "existing",
    [copies(test=BUILT, rc=OTHER), copies(main=OTHER), native(OTHER, "test"), native(None, "test"), native(OTHER)],
)
def test_any_copy_with_other_bytes_is_a_conflict(existing: ChannelFile) -> None:
    decision = decide_upload(entry(), existing, "test")
    assert decision.action == "conflict" and "different content" in decision.detail


def test_a_file_without_labels_still_counts() -> None:
    same = decide_upload(entry(), native(BUILT), "test")
    assert (same.action, same.source_label) == ("add-label", None)


def test_copy_source_is_a_label_whose_copy_has_those_bytes() -> None:
    file = copies(alpha=OTHER, main=BUILT, test=BUILT)
    assert copy_source(file, BUILT) == "main"  # alpha sorts first but holds other bytes
    assert copy_source(copies(test=OTHER), BUILT) is None


# -- promotion ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("file", "action", "problem"),
    [
        (None, "refuse", "is not on the channel"),
        (copies(test=BUILT), "promote", ""),
        (copies(test=BUILT, main=BUILT), "already", ""),
        (copies(main=BUILT), "already", ""),
        (copies(rc=BUILT), "refuse", "is not in label 'test' (it has: rc)"),
        (copies(test=OTHER), "refuse", "not the file that was built"),
        # the known bug: another label holding the built bytes must not stand in for --from
        (copies(alpha=BUILT, test=OTHER), "refuse", "not the file that was built"),
        (copies(test=BUILT, main=OTHER), "refuse", "in label 'main' has different content"),
        (native(BUILT, "test"), "promote", ""),
        (native(None, "test"), "refuse", "not the file that was built"),
    ],
)
def test_promotion_decisions(file: ChannelFile | None, action: str, problem: str) -> None:
    decision = decide_promotion(entry(), file, "test", "main")
    assert decision.action == action
    assert problem in decision.problem and bool(problem) == bool(decision.problem)


@pytest.mark.parametrize(
    ("file", "allowed"),
    [
        (copies(test=BUILT, main=BUILT), True),
        (copies(test=BUILT), False),
        (copies(test=BUILT, main=OTHER), False),  # main's copy is other bytes: test's would be gone
        (native(BUILT, "test", "main"), True),
        (native(BUILT, "test"), False),
        (native(None, "test", "main"), False),  # unknown bytes prove nothing
    ],
)
def test_last_copy_rule(file: ChannelFile, allowed: bool) -> None:
    problem = last_copy_problem(file, "test")
    assert (problem is None) == allowed
    if problem:
        assert "no other label holds the same bytes" in problem


class MemoryChannel:
    """A label-less channel in memory: {label: {key: sha256}}; records add/remove calls."""

    capabilities: ClassVar[Capabilities] = Capabilities(server_side_copy=True, lists_labels=True)
    display = "memory"
    max_parallel = 1

    def __init__(self, labels: dict[str, dict[str, str]]) -> None:
        self.labels = labels
        self.calls: list[tuple[str, str, str | None]] = []

    def __enter__(self) -> MemoryChannel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        found: dict[str, dict[str, str]] = {}
        for label, files in self.labels.items():
            for key, sha in files.items():
                found.setdefault(key, {})[label] = sha
        return [ChannelFile.from_copies(*key.split("/"), by, build_number=None) for key, by in sorted(found.items())]

    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        raise AssertionError("promotion never uploads")

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        self.calls.append(("add", label, source_label))
        assert source_label is not None
        self.labels.setdefault(label, {})[file.key] = self.labels[source_label][file.key]
        return True

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self.calls.append(("remove", label, None))
        del self.labels[label][file.key]

    def install_url(self, label: str) -> str:
        return label


def test_memory_channel_is_a_channel() -> None:
    assert isinstance(MemoryChannel({}), Channel)


def test_promote_copies_from_the_from_label_even_when_another_sorts_first() -> None:
    key = f"noarch/{FILENAME}"
    channel = MemoryChannel({"alpha": {key: BUILT}, "test": {key: BUILT}})
    receipts = promote(Manifest(artifacts=[entry()]), channel, "test", "main", move=True)
    assert [r.state for r in receipts] == ["promoted", "removed-from-source"]
    assert channel.calls == [("add", "main", "test"), ("remove", "test", None)]
    assert channel.labels == {"alpha": {key: BUILT}, "test": {}, "main": {key: BUILT}}


def test_remove_label_removes_nothing_when_one_file_would_lose_its_last_copy() -> None:
    kept, last = f"noarch/{FILENAME}", "noarch/demo-1.0-h1_1.conda"
    channel = MemoryChannel({"test": {kept: BUILT, last: OTHER}, "main": {kept: BUILT}})
    entries = [entry(), ArtifactEntry(last.split("/")[1], "noarch", "demo", "1.0", "h1_1", 1, None, OTHER, 1, "x")]
    with pytest.raises(VerificationError, match=r"demo-1\.0-h1_1\.conda from label 'test'.*nothing was removed"):
        remove_label(channel, entries, "test")
    assert channel.calls == []
    assert remove_label(channel, entries[:1], "test") == entries[:1]
    assert channel.labels["test"] == {last: OTHER}


def test_a_yanked_file_is_not_promoted_again_by_its_manifest() -> None:
    # re-running a CI promote job (which passes --manifest) after `cipub yank` must not undo the yank
    yanked = native(BUILT, "test", "broken")
    decision = decide_promotion(entry(), yanked, "test", "main")
    assert decision.action == "refuse"
    assert decision.problem is not None and "was yanked" in decision.problem


class UploadChannel(MemoryChannel):
    """An empty channel that takes uploads (or, with ``state_error``, cannot be read)."""

    max_parallel = 2

    def __init__(self, state_error: Exception | None = None) -> None:
        super().__init__({})
        self.state_error = state_error
        self.uploaded: list[str] = []

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        if self.state_error is not None:
            raise self.state_error
        return super().files(name, version)

    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        self.uploaded.append(artifact.filename)
        self.labels.setdefault(label, {})[f"{artifact.subdir}/{artifact.filename}"] = artifact.sha256
        return "uploaded"


def test_upload_checks_every_file_before_writing_and_says_the_plans_error_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A bad file stops the batch before any write; when the state cannot be read either, that
    error is the one said (the plan comes first)."""
    from cipub.core.artifact import read_artifact
    from cipub.core.errors import InvalidPackageError, NetworkError
    from cipub.policy.publish import upload
    from tests.support.packages import make_package

    paths = [make_package(tmp_path, name, "1.0", 0) for name in ("first", "second", "third")]
    manifest = Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in paths])
    assert [r.state for r in upload(manifest, UploadChannel(), "test")] == ["uploaded"] * 3

    paths[1].write_bytes(paths[1].read_bytes()[:-100])  # truncated after the manifest was written
    manifest.uploads.clear()
    channel = UploadChannel()
    with pytest.raises(InvalidPackageError, match="second-1.0.*damaged or truncated"):
        upload(manifest, channel, "test")
    assert channel.uploaded == []
    unreachable = UploadChannel(NetworkError("memory: unreachable"))
    with pytest.raises(NetworkError, match="unreachable"):
        upload(manifest, unreachable, "test")
    assert unreachable.uploaded == []

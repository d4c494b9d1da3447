"""S3 channel logic against moto's in-process S3 (no network, no server): key layout, create-only
writes, labels by copy, refusals, state reading, error mapping. Re-indexing is recorded here; the
real ``index_s3`` runs in tests/integration/targets/test_s3.py against moto's standalone server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cipub.channels import TargetOptions, parse_target
from cipub.channels.base import ChannelFile
from cipub.channels.s3 import S3Channel, S3Settings, open_target
from cipub.core.artifact import Artifact, read_artifact
from cipub.core.errors import AuthError, ConflictError, UsageError, VerificationError
from cipub.core.manifest import ArtifactEntry
from cipub.policy.promote import remove_label
from tests.support.packages import make_package

BUCKET = "unit-bucket"
ENV = {
    "AWS_ACCESS_KEY_ID": "unit-access",
    "AWS_SECRET_ACCESS_KEY": "unit-secret-value-1234",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, channel_url: str, subdir: str) -> None:
        self.calls.append((channel_url, subdir))


def channel(s3: Any, prefix: str = "conda/chan", indexer: Recorder | None = None) -> S3Channel:
    return S3Channel(
        BUCKET, prefix, s3, S3Settings(ENV), display=f"s3://{BUCKET}/{prefix}", indexer=indexer or Recorder()
    )


def pkg(tmp_path: Path, payload: str = "p", name: str = "demo", number: int = 0, **kw: Any) -> Artifact:
    return read_artifact(make_package(tmp_path / payload / name, name, "1.0", number, payload=payload, **kw))


def keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_labels_are_laid_out_like_the_local_channel(s3: Any) -> None:
    ch = channel(s3)
    assert ch.key("main", "noarch", "a-1-0.conda") == "conda/chan/noarch/a-1-0.conda"
    assert ch.key("test", "linux-64", "a-1-0.conda") == "conda/chan/label/test/linux-64/a-1-0.conda"
    assert channel(s3, prefix="").key("rc", "noarch", "a-1-0.conda") == "label/rc/noarch/a-1-0.conda"
    with pytest.raises(UsageError):
        ch.key("../evil", "noarch", "a-1-0.conda")


def test_upload_writes_once_with_checksum_and_metadata(s3: Any, tmp_path: Path) -> None:
    art = pkg(tmp_path, number=4)
    indexer = Recorder()
    with channel(s3, indexer=indexer) as ch:
        ch.upload(art, "test")
        [f] = ch.files("demo", "1.0")
    key = f"conda/chan/label/test/noarch/{art.filename}"
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["Metadata"]["package-sha256"] == art.sha256
    assert f.labels == {"test"} and f.sha256 == art.sha256 and f.build_number == 4
    assert indexer.calls == [(f"s3://{BUCKET}/conda/chan/label/test", "noarch")]


def test_a_retried_upload_that_already_landed_is_fine(s3: Any, tmp_path: Path) -> None:
    art = pkg(tmp_path)
    with channel(s3) as ch:
        ch.upload(art, "test")
        ch.upload(art, "test")  # 412 from the conditional PUT, same bytes: not an error
    assert len(keys(s3)) == 1


def test_different_bytes_under_the_same_key_conflict_and_stay(s3: Any, tmp_path: Path) -> None:
    first, second = pkg(tmp_path, "one"), pkg(tmp_path, "two")
    assert first.filename == second.filename and first.sha256 != second.sha256
    with channel(s3) as ch:
        ch.upload(first, "test")
        with pytest.raises(ConflictError):
            ch.upload(second, "test")
    body = s3.get_object(Bucket=BUCKET, Key=f"conda/chan/label/test/noarch/{first.filename}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == first.sha256


def test_add_label_copies_server_side_and_remove_label_keeps_the_other_copy(s3: Any, tmp_path: Path) -> None:
    art = pkg(tmp_path)
    indexer = Recorder()
    with channel(s3, indexer=indexer) as ch:
        ch.upload(art, "test")
        [f] = ch.files("demo")
        ch.add_label(f, "main", source_label="test")
        [f] = ch.files("demo")
        assert f.labels == {"test", "main"} and dict(f.label_sha256) == {"test": art.sha256, "main": art.sha256}
        ch.remove_label(f, "test")
        [f] = ch.files("demo")
    assert f.labels == {"main"}
    assert keys(s3) == {f"conda/chan/noarch/{art.filename}"}
    assert {c[0] for c in indexer.calls} == {f"s3://{BUCKET}/conda/chan", f"s3://{BUCKET}/conda/chan/label/test"}


def test_add_label_onto_different_bytes_is_a_conflict(s3: Any, tmp_path: Path) -> None:
    first, second = pkg(tmp_path, "one"), pkg(tmp_path, "two")
    with channel(s3) as ch:
        ch.upload(first, "test")
        ch.upload(second, "main")
        [f] = [x for x in ch.files("demo") if "test" in x.labels]
        staged = ChannelFile(f.subdir, f.filename, f.name, f.version, f.build, 0, first.sha256, frozenset({"test"}))
        with pytest.raises(ConflictError):
            ch.add_label(staged, "main", source_label="test")


def test_removing_the_only_copy_is_refused(s3: Any, tmp_path: Path) -> None:
    """The policy guard (cipub.policy.promote.remove_label) reads the bucket itself: no caller's
    snapshot claiming a second label is involved, and the only copy stays."""
    art = pkg(tmp_path)
    with channel(s3) as ch:
        ch.upload(art, "test")
        with pytest.raises(VerificationError, match="no other label"):
            remove_label(ch, [ArtifactEntry.from_artifact(art)], "test")
    assert len(keys(s3)) == 1


def test_files_filters_by_name_and_version_across_labels_and_subdirs(s3: Any, tmp_path: Path) -> None:
    with channel(s3) as ch:
        ch.upload(pkg(tmp_path, "a", name="demo"), "test")
        ch.upload(pkg(tmp_path, "b", name="demo", subdir="linux-64"), "main")
        ch.upload(pkg(tmp_path, "c", name="demo-extra"), "test")
        found = ch.files("demo")
    assert sorted((f.subdir, tuple(sorted(f.labels))) for f in found) == [
        ("linux-64", ("main",)),
        ("noarch", ("test",)),
    ]


def test_objects_newer_than_the_index_are_reindexed(s3: Any, tmp_path: Path) -> None:
    """A run that crashed after writing but before indexing: the next run indexes it."""
    art = pkg(tmp_path)
    s3.put_object(Bucket=BUCKET, Key=f"conda/chan/label/test/noarch/{art.filename}", Body=art.path.read_bytes())
    indexer = Recorder()
    with channel(s3, indexer=indexer) as ch:
        [f] = ch.files("demo")
    assert f.sha256 == art.sha256  # no metadata: hashed from the bytes
    assert indexer.calls == [(f"s3://{BUCKET}/conda/chan/label/test", "noarch")]


def test_a_failing_index_is_retried_then_reported(s3: Any, tmp_path: Path) -> None:
    attempts: list[str] = []

    def flaky(url: str, subdir: str) -> None:
        attempts.append(url)
        if len(attempts) < 3:
            raise RuntimeError("index hiccup")

    ch = S3Channel(BUCKET, "c", s3, S3Settings(ENV), display="s3", indexer=flaky, index_backoff=0.0)
    with ch:
        ch.upload(pkg(tmp_path), "test")
    assert len(attempts) == 3

    def broken(url: str, subdir: str) -> None:
        raise RuntimeError("index broken")

    ch = S3Channel(BUCKET, "d", s3, S3Settings(ENV), display="s3", indexer=broken, index_retries=1, index_backoff=0.0)
    from cipub.core.errors import NetworkError

    with pytest.raises(NetworkError, match="re-indexing") as failed, ch:
        ch.upload(pkg(tmp_path, "x"), "test")
    assert "re-run" in (failed.value.hint or "")


def test_missing_bucket_and_refused_credentials_map_to_exit_codes(s3: Any, tmp_path: Path) -> None:
    ghost = S3Channel("no-such-bucket", "p", s3, S3Settings(ENV), display="s3://no-such-bucket/p")
    with pytest.raises(UsageError, match="does not exist"):
        ghost.files("demo")
    from botocore.exceptions import ClientError

    def denied() -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "nope"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
            "PutObject",
        )

    with pytest.raises(AuthError):
        channel(s3)._call("upload", denied)


def test_settings_from_the_standard_aws_environment() -> None:
    custom = S3Settings(
        {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000/", "AWS_ENDPOINT_URL": "http://other", "AWS_REGION": "eu-west-3"}
    )
    assert custom.endpoint_url == "http://127.0.0.1:9000" and custom.region == "eu-west-3"
    assert custom.addressing_style == "path"
    assert custom.public_url("b", "p/label/test") == "http://127.0.0.1:9000/b/p/label/test"
    aws = S3Settings({"AWS_DEFAULT_REGION": "us-west-2"})
    assert aws.public_url("b", "p") == "https://b.s3.us-west-2.amazonaws.com/p"
    with pytest.raises(UsageError):
        S3Settings({"S3_ADDRESSING_STYLE": "sideways"})


def test_open_target_refuses_token_file_and_parses_the_url(s3: Any, tmp_path: Path) -> None:
    target = parse_target(f"s3://{BUCKET}/conda/chan")
    with pytest.raises(UsageError, match="AWS environment"):
        open_target(target, TargetOptions(token_file=tmp_path / "t"))
    ch = open_target(target, TargetOptions(concurrency=3))
    assert (ch.bucket, ch.prefix, ch.max_parallel) == (BUCKET, "conda/chan", 3)
    assert "unit-secret-value-1234" not in repr(vars(ch))


def test_writes_are_conditional_on_the_wire(s3: Any, tmp_path: Path) -> None:
    """Both the PUT and the label copy carry If-None-Match: * (create-only on AWS S3)."""
    sent: dict[str, str | None] = {}

    def capture(request: Any, **_kw: Any) -> None:
        operation = "copy" if "x-amz-copy-source" in request.headers else "put"
        header = request.headers.get("If-None-Match")
        sent[operation] = header.decode() if isinstance(header, bytes) else header

    s3.meta.events.register("before-send.s3.PutObject", capture)
    s3.meta.events.register("before-send.s3.CopyObject", capture)
    art = pkg(tmp_path)
    with channel(s3) as ch:
        ch.upload(art, "test")
        [f] = ch.files("demo")
        ch.add_label(f, "main", source_label="test")
    assert sent == {"put": "*", "copy": "*"}


def test_a_failing_index_after_another_failure_is_one_line_not_a_traceback(
    s3: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The fault suite saw a traceback on stderr: the first failure is the one reported; the
    # re-index that follows it may fail too, and says so in one line.
    def broken(url: str, subdir: str) -> None:
        raise RuntimeError("index broken")

    ch = S3Channel(BUCKET, "e", s3, S3Settings(ENV), display="s3", indexer=broken, index_retries=1, index_backoff=0.0)
    caplog.set_level("INFO", logger="cipub")
    with pytest.raises(ConflictError, match="first failure"), ch:
        ch.upload(pkg(tmp_path, "y"), "test")
        raise ConflictError("first failure")
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warnings and all(r.exc_info is None for r in warnings)
    assert any("also failed: " in r.getMessage() and "index broken" in r.getMessage() for r in warnings)


def test_removing_a_label_takes_its_attestations_along(s3: Any, tmp_path: Path) -> None:
    # promote --move: the staged copy goes, and so do the sidecar, the mutable .sigs and the
    # envelope beside it; the promoted label keeps its own copies (an orphan would only mislead)
    art = pkg(tmp_path)
    with channel(s3) as ch:
        ch.upload(art, "test")
        ch.put_attestation("noarch", art.filename, "test", "keyless", b'{"bundle": 1}')
        ch.put_attestation("noarch", art.filename, "test", "key", b'{"envelope": 1}')
        [f] = ch.files("demo")
        ch.add_label(f, "main", source_label="test")
        [f] = ch.files("demo")
        ch.remove_label(f, "test")
        assert ch.get_attestation("noarch", art.filename, "main", "keyless") == b'{"bundle": 1}'
        assert ch.get_attestation("noarch", art.filename, "main", "key") == b'{"envelope": 1}'
    left = {k for k in keys(s3) if "/label/test/" in k}
    assert left == set(), left
    assert any(k.endswith(f"{art.filename}.sigs") for k in keys(s3) if "/label/" not in k)


def _envelope(filename: str, sha256: str, who: str) -> bytes:
    import base64
    import json

    statement = {"subject": [{"name": filename, "digest": {"sha256": sha256}}], "who": who}
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps({"payload": payload, "payloadType": "application/vnd.in-toto+json", "signatures": []}).encode()


def test_an_orphan_envelope_is_replaced_and_a_stored_one_is_kept(s3: Any, tmp_path: Path) -> None:
    """Never-overwrite protects the attestation of a file already in the label; one planted beside a
    name before its package was uploaded (``fresh``: this run put the file there) is replaced."""
    from cipub.core.manifest import AttestationRecord
    from cipub.policy.attest import publish_attestations

    art = pkg(tmp_path)
    orphan = _envelope(art.filename, art.sha256, "planted")
    mine = _envelope(art.filename, art.sha256, "publisher")
    (tmp_path / "mine.dsse.json").write_bytes(mine)
    record = AttestationRecord(
        art.filename, "noarch", art.sha256, "s3://b/c", "key", "mine.dsse.json", "", identity="key:x"
    )
    with channel(s3) as ch:
        ch.put_attestation("noarch", art.filename, "test", "key", orphan)
        ch.upload(art, "test")
    fresh = {f"noarch/{art.filename}"}
    stored, kept, replaced = publish_attestations(channel(s3), "test", [record], tmp_path, fresh)
    assert (stored, kept, replaced) == (1, [], [art.filename])
    assert channel(s3).get_attestation("noarch", art.filename, "test", "key") == mine
    # the file was there before the next run: its attestation is the publisher's, and is kept
    (tmp_path / "mine.dsse.json").write_bytes(_envelope(art.filename, art.sha256, "another key"))
    stored, kept, replaced = publish_attestations(channel(s3), "test", [record], tmp_path)
    assert (stored, kept, replaced) == (0, [art.filename], [])
    assert channel(s3).get_attestation("noarch", art.filename, "test", "key") == mine

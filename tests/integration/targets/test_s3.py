"""S3 static channel against moto's standalone server (``moto_server``, from the registry) on
127.0.0.1: the full flow through the real CLI, py-rattler installing from the bucket's labels over
moto's plain HTTP endpoint, and the facts the design rests on (conditional PUT, index layout)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support import publish_flows
from tests.support.packages import make_package
from tests.support.s3_target import SECRET_KEY, s3_client, s3_target, shared_s3
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration
Cipub = Callable[..., CliResult]


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[TargetHandle]:
    with s3_target(tmp_path, server=shared_s3()) as h:
        yield h


def bucket_and_prefix(handle: TargetHandle) -> tuple[str, str]:
    bucket, _, prefix = handle.url.removeprefix("s3://").partition("/")
    return bucket, prefix


def test_moto_honours_if_none_match_on_put(handle: TargetHandle) -> None:
    """The create-only guarantee rests on this: a second conditional PUT gets 412, bytes unchanged."""
    from botocore.exceptions import ClientError

    client = s3_client(shared_s3())
    bucket, _ = bucket_and_prefix(handle)
    client.put_object(Bucket=bucket, Key="probe", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="probe", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"first"


def test_full_flow_installs_from_the_buckets_http_endpoint(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.build_upload_install_promote_rerun(cipub, handle, tmp_path)


def test_conflict_leaves_the_bucket_unchanged(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.conflict_exits_6_and_changes_nothing(cipub, handle, tmp_path)


def test_promotion_touches_only_the_manifest(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    publish_flows.promotion_touches_only_the_manifest(cipub, handle, tmp_path)


def test_each_label_root_is_a_complete_channel(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    """repodata.json of every label root lists exactly that label's files (and noarch always exists)."""
    linux = make_package(tmp_path / "l", "s3-linux", "1.0", 0, subdir="linux-64")
    noarch = make_package(tmp_path / "n", "s3-noarch", "1.0", 0)
    work = tmp_path / "w"
    work.mkdir()
    result = cipub("upload", str(linux), "--target", handle.url, "--label", "rc", cwd=work, env=handle.env)
    assert result.code == 0, result.err
    result = cipub("upload", str(noarch), "--target", handle.url, "--label", "main", cwd=work, env=handle.env)
    assert result.code == 0, result.err

    import httpx

    def listed(label: str, subdir: str) -> set[str]:
        response = httpx.get(f"{handle.install_url(label)}/{subdir}/repodata.json", timeout=10)
        response.raise_for_status()
        data = response.json()
        return {*data.get("packages", {}), *data.get("packages.conda", {})}

    assert listed("rc", "linux-64") == {linux.name}
    assert listed("rc", "noarch") == set()  # a conda channel must have noarch
    assert listed("main", "noarch") == {noarch.name}
    record = httpx.get(f"{handle.install_url('rc')}/linux-64/repodata.json", timeout=10).json()["packages.conda"]
    assert record[linux.name]["sha256"] == hashlib.sha256(linux.read_bytes()).hexdigest()


def test_an_object_written_by_a_crashed_run_gets_indexed(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    """Written but never indexed (the run died in between): the next run indexes it, uploads nothing."""
    pkg = make_package(tmp_path / "p", "s3-crash", "1.0", 0)
    bucket, prefix = bucket_and_prefix(handle)
    client = s3_client(shared_s3())
    client.put_object(Bucket=bucket, Key=f"{prefix}/label/test/noarch/{pkg.name}", Body=pkg.read_bytes())
    work = tmp_path / "w"
    work.mkdir()
    result = cipub("upload", str(pkg), "--target", handle.url, "--json", cwd=work, env=handle.env)
    assert result.code == 0, result.err
    assert [u["state"] for u in json.loads(result.out)["uploads"]] == ["skipped-identical"]
    from tests.support.install import install_from

    assert install_from(handle.install_url("test"), "s3-crash", tmp_path / "env") == ["s3-crash-1.0-h0000000_0"]


def test_the_secret_key_never_reaches_output(cipub: Cipub, handle: TargetHandle, tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "p", "s3-secret", "1.0", 0)
    work = tmp_path / "w"
    work.mkdir()
    for args in (("--debug", "upload", str(pkg)), ("--debug", "promote")):
        result = cipub(*args, "--target", handle.url, cwd=work, env=handle.env)
        assert result.code == 0, result.err
        assert SECRET_KEY not in result.out + result.err
    bad = {**handle.env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens there
    result = cipub("--debug", "upload", str(pkg), "--target", handle.url, cwd=work, env={**bad, "CIPUB_RETRIES": "1"})
    assert result.code == 7, result.err
    assert SECRET_KEY not in result.out + result.err
    # upload FILE records in the ledger (output/cipub-ledger), not in the build's manifest
    assert all(SECRET_KEY not in p.read_text() for p in (work / "output").rglob("*.json"))

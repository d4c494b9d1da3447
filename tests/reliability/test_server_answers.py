"""Real-service readiness (issue 18): answers the real services give that the test servers did not.

- a 402 (quota or plan limit) at anaconda.org's commit is its own message, not "network";
- a 403 from presigned storage (expired policy, signature mismatch) is not "bad token";
- anaconda.org's release listing without the undocumented ``labels``/``sha256``: the state is read
  from the documented per-file endpoint instead.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest

from cipub.core.artifact import Artifact
from cipub.core.errors import AuthError, CipubError, UsageError
from tests.unit.channels.test_anaconda import FakeServer, art, channel, dist

__all__ = ["art"]  # the fixture


class QuotaServer(FakeServer):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/commit/"):
            return httpx.Response(402, json={"error": "Storage quota exceeded"})
        return super().__call__(request)


class ExpiredStorage(FakeServer):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "storage.test":
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code><Message>Policy expired</Message></Error>")
        return super().__call__(request)


def test_a_402_at_commit_says_quota(art: Artifact) -> None:
    with (
        pytest.raises(UsageError, match=r"quota or plan limit is reached \(402\)") as caught,
        channel(QuotaServer(art.path.read_bytes())) as chan,
    ):
        chan.upload(art, "test")
    assert caught.value.exit_code == 2


def test_a_storage_403_is_not_called_a_bad_token(art: Artifact) -> None:
    with pytest.raises(CipubError) as caught, channel(ExpiredStorage(art.path.read_bytes())) as chan:
        chan.upload(art, "test")
    assert not isinstance(caught.value, AuthError)
    assert "presigned upload expired" in str(caught.value) and "AccessDenied" in str(caught.value)
    assert caught.value.exit_code == 7


def test_release_without_labels_or_sha256_falls_back_to_the_per_file_record() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    basename = "noarch/demo-1.0-h0_0.conda"
    full = dist(basename, sha, ["main", "test"])

    def handler(request: httpx.Request) -> httpx.Response:
        # the package's record (read first, while the package is not known) lists the same bare file
        if request.url.path == "/package/alice/demo":
            return httpx.Response(200, json={"files": [{"basename": basename, "version": "1.0"}]})
        if request.url.path == "/release/alice/demo/1.0":
            return httpx.Response(200, json={"distributions": [{"basename": basename, "version": "1.0"}]})
        if request.url.path == f"/dist/alice/demo/1.0/{basename}":
            return httpx.Response(200, json=full)
        return httpx.Response(404, json={"error": "no"})

    with channel(handler) as chan:
        for _record in ("package", "release"):
            [found] = chan.files("demo", "1.0")
            assert found.sha256 == sha and found.labels == frozenset({"main", "test"})


def test_psm_label_the_token_may_not_create_says_what_to_create(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cipub.core.artifact import read_artifact
    from tests.support.packages import make_package
    from tests.unit.channels.test_psm import channel as psm_channel
    from tests.unit.channels.test_psm import page

    artifact = read_artifact(make_package(tmp_path, "demo", "1.0", 0))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/subchannels"):
            return page([])
        if request.method == "GET" and request.url.path == "/api/channels/team":
            return httpx.Response(200, json={"name": "team", "privacy": "private"})
        if request.method == "POST" and request.url.path.endswith("/subchannels"):
            return httpx.Response(403, json={"error": "Permission denied: channel manage"})
        return httpx.Response(404, json={"error": "no"})

    with (
        pytest.raises(AuthError, match="subchannel team/test, which does not exist") as caught,
        psm_channel(handler) as chan,
    ):
        chan.upload(artifact, "test")
    assert "may not create it" in str(caught.value)
    assert "create subchannel 'test' of channel 'team'" in (caught.value.hint or "")

"""cipub's PSM target against the PSM protocol server: every Channel operation, checked through
the server's stored state (``TargetHandle.state``), and installs checked by py-rattler."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from cipub.channels import TargetOptions, open_channel
from cipub.channels.psm import PSMChannel
from cipub.core.artifact import read_artifact
from cipub.core.errors import AuthError, ConflictError, UsageError, VerificationError
from cipub.core.manifest import ArtifactEntry
from cipub.policy.promote import remove_label
from tests.servers.psm_server import PSMServer
from tests.support.install import install_from
from tests.support.packages import make_package
from tests.support.psm_target import TOKEN, psm_server, psm_target
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def channel_of(handle: TargetHandle, monkeypatch: pytest.MonkeyPatch, **options: object) -> PSMChannel:
    for key, value in handle.env.items():
        monkeypatch.setenv(key, value)
    channel = open_channel(handle.url, TargetOptions(backoff=0.01, **options))  # type: ignore[arg-type]
    assert isinstance(channel, PSMChannel)
    return channel


def test_upload_to_a_label_creates_the_subchannel_and_installs(
    psm: TargetHandle, psm_srv: PSMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pkg = make_package(tmp_path, "alpha", "1.0", 0)
    chan = channel_of(psm, monkeypatch)
    with chan:
        chan.upload(read_artifact(pkg), "test")
    assert psm.state() == {"test": {f"noarch/{pkg.name}": sha(pkg)}}
    channel = psm.url.rsplit("/", 1)[-1]
    assert psm_srv.store.channels[channel].subchannels["test"].privacy == "public"
    # the upload went to the documented route, as multipart
    assert ("POST", f"/api/channels/{channel}/subchannels/test/artifacts") in psm_srv.requests
    [f] = chan.files("alpha", "1.0")
    assert (f.labels, f.sha256_in("test"), f.build_number) == ({"test"}, sha(pkg), 0)
    assert install_from(psm.install_url("test"), "alpha", tmp_path / "env") == ["alpha-1.0-h0000000_0"]


def test_identical_upload_is_skipped_and_different_bytes_never_replace(
    psm: TargetHandle, psm_srv: PSMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pkg = make_package(tmp_path / "a", "beta", "1.0", 0, payload="first")
    impostor = make_package(tmp_path / "b", "beta", "1.0", 0, payload="second")
    chan = channel_of(psm, monkeypatch)
    with chan:
        chan.upload(read_artifact(pkg), "test")
    before = psm.state()
    uploads = psm_srv.requests.count(("POST", f"/api/channels/{psm.url.rsplit('/', 1)[-1]}/subchannels/test/artifacts"))
    with chan:
        chan.upload(read_artifact(pkg), "test")
        # This server replaces files on re-upload (the documented 204): cipub must not send at all.
        with pytest.raises(ConflictError, match="different content"):
            chan.upload(read_artifact(impostor), "test")
    assert psm.state() == before
    assert (
        psm_srv.requests.count(("POST", f"/api/channels/{psm.url.rsplit('/', 1)[-1]}/subchannels/test/artifacts"))
        == uploads
    )


def test_promotion_uses_the_bulk_copy_and_waits_for_it(
    psm: TargetHandle, psm_srv: PSMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pkg = make_package(tmp_path, "gamma", "2.0", 3, subdir="linux-64")
    chan = channel_of(psm, monkeypatch)
    with chan:
        chan.upload(read_artifact(pkg), "test")
        [f] = chan.files("gamma")
        chan.add_label(f, "main", source_label="test")
        [f] = chan.files("gamma")  # the copy is applied in the background; files() waits for it
        assert f.labels == {"test", "main"} and f.sha256 == sha(pkg)
        chan.remove_label(f, "test")
        [f] = chan.files("gamma")
        assert f.labels == {"main"}
        with pytest.raises(VerificationError, match="no other label"):
            remove_label(chan, [ArtifactEntry.from_artifact(read_artifact(pkg))], "main")
    channel = psm.url.rsplit("/", 1)[-1]
    assert ("PUT", f"/api/channels/{channel}/subchannels/test/artifacts/bulk") in psm_srv.requests
    assert psm.state() == {"main": {f"linux-64/{pkg.name}": sha(pkg)}}
    assert install_from(psm.install_url("main"), "gamma", tmp_path / "env") == ["gamma-2.0-h0000000_3"]


def test_slow_indexing_and_missing_sha256_in_listings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with (
        psm_server(tmp_path / "srv", index_delay=0.3, bulk_delay=0.3, file_sha256_in_metadata=False) as server,
        psm_target(tmp_path, server=server) as handle,
    ):
        pkg = make_package(tmp_path, "delta", "1.0", 0)
        chan = channel_of(handle, monkeypatch)
        with chan:
            chan.upload(read_artifact(pkg), "test")
            [f] = chan.files("delta")  # waits until the server lists it; hashes the served bytes
            assert f.sha256_in("test") == sha(pkg)
            chan.add_label(f, "main", source_label="test")
        assert handle.state() == {"main": {f"noarch/{pkg.name}": sha(pkg)}, "test": {f"noarch/{pkg.name}": sha(pkg)}}


def test_missing_channel_is_a_usage_error_and_reads_see_nothing(
    psm_srv: PSMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PSM_TOKEN", TOKEN)
    chan = open_channel(f"psm+{psm_srv.url}/nosuchchannel", TargetOptions(backoff=0.01))
    assert chan.files("anything") == []
    with pytest.raises(UsageError, match="does not exist"), chan:
        chan.upload(read_artifact(make_package(tmp_path, "eps", "1.0", 0)), "test")


def test_tokens_missing_read_only_and_never_echoed(
    psm: TargetHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    art = read_artifact(make_package(tmp_path, "zeta", "1.0", 0))
    monkeypatch.delenv("PSM_TOKEN", raising=False)
    monkeypatch.delenv("ANACONDA_SERVER_TOKEN", raising=False)
    chan = open_channel(psm.url, TargetOptions(backoff=0.01))
    with pytest.raises(AuthError, match="PSM_TOKEN"), chan:
        chan.upload(art, "test")
    monkeypatch.setenv("ANACONDA_SERVER_TOKEN", "psm-read-only")
    chan = open_channel(psm.url, TargetOptions(backoff=0.01))
    with pytest.raises(AuthError) as info, chan:
        chan.upload(art, "test")
    assert info.value.exit_code == 5 and "psm-read-only" not in str(info.value)
    assert psm.state() == {}


def test_labels_must_be_valid_subchannel_names(
    psm: TargetHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chan = channel_of(psm, monkeypatch)
    with pytest.raises(UsageError, match="subchannels"), chan:
        chan.upload(read_artifact(make_package(tmp_path, "eta", "1.0", 0)), "Release.Candidate")


def test_private_channel_needs_the_token_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with psm_server(tmp_path / "srv") as server, psm_target(tmp_path, server=server, privacy="private") as handle:
        chan = channel_of(handle, monkeypatch)
        with chan:
            chan.upload(read_artifact(make_package(tmp_path, "theta", "1.0", 0)), "test")
        channel = handle.url.rsplit("/", 1)[-1]
        assert server.store.channels[channel].subchannels["test"].privacy == "private"
        url = handle.install_url("test") + "/noarch/repodata.json"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"X-Auth": TOKEN}).status_code == 200

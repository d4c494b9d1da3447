"""cipub's Quetz target against the real Quetz server: every Channel operation, checked through
Quetz's own API (``TargetHandle.state``), never through cipub."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from cipub.channels import TargetOptions, open_channel
from cipub.channels.quetz import QuetzChannel
from cipub.core.artifact import read_artifact
from cipub.core.errors import AuthError, ConflictError, VerificationError
from cipub.core.manifest import ArtifactEntry
from cipub.policy.promote import remove_label
from tests.support.install import install_from
from tests.support.packages import make_package
from tests.support.quetz import QuetzServer
from tests.support.quetz_target import new_channel_name
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration


@pytest.fixture
def chan(quetz: TargetHandle, monkeypatch: pytest.MonkeyPatch) -> QuetzChannel:
    for key, value in quetz.env.items():
        monkeypatch.setenv(key, value)
    channel = open_channel(quetz.url, TargetOptions(backoff=0.01))
    assert isinstance(channel, QuetzChannel)
    return channel


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_upload_creates_label_channel_with_main_visibility_and_records_sha(
    quetz: TargetHandle, chan: QuetzChannel, quetz_server: QuetzServer, tmp_path: Path
) -> None:
    pkg = make_package(tmp_path, "alpha", "1.0", 0)
    with chan:
        chan.upload(read_artifact(pkg), "test")
    assert quetz.state() == {"test": {f"noarch/{pkg.name}": sha(pkg)}}
    test_channel = quetz.install_url("test").rsplit("/", 1)[-1]
    with quetz_server.client() as client:
        assert client.get(f"/api/channels/{test_channel}").json()["private"] is False

    [found] = chan.files("alpha", "1.0")
    assert (found.key, found.labels, found.sha256_in("test")) == (f"noarch/{pkg.name}", {"test"}, sha(pkg))
    assert chan.files("alpha", "2.0") == [] and chan.files("nothing-here") == []
    # Leaving the batch waited for Quetz's indexer: installers see the file at once.
    assert install_from(quetz.install_url("test"), "alpha", tmp_path / "env") == ["alpha-1.0-h0000000_0"]


def test_identical_upload_is_a_no_op_and_different_bytes_conflict(
    quetz: TargetHandle, chan: QuetzChannel, tmp_path: Path
) -> None:
    pkg = make_package(tmp_path / "a", "beta", "1.0", 0, payload="first")
    impostor = make_package(tmp_path / "b", "beta", "1.0", 0, payload="second")
    assert pkg.name == impostor.name and sha(pkg) != sha(impostor)
    with chan:
        chan.upload(read_artifact(pkg), "test")
        before = quetz.state()
        chan.upload(read_artifact(pkg), "test")  # a re-run after a lost response
        assert quetz.state() == before
        with pytest.raises(ConflictError, match="different content"):
            chan.upload(read_artifact(impostor), "test")
    assert quetz.state() == before == {"test": {f"noarch/{pkg.name}": sha(pkg)}}


def test_add_label_copies_verified_bytes_and_remove_label_keeps_the_last_copy(
    quetz: TargetHandle, chan: QuetzChannel, tmp_path: Path
) -> None:
    pkg = make_package(tmp_path, "gamma", "2.0", 3, subdir="linux-64")
    with chan:
        chan.upload(read_artifact(pkg), "test")
        [f] = chan.files("gamma")
        chan.add_label(f, "main", source_label="test")
        [f] = chan.files("gamma")
        assert f.labels == {"test", "main"} and f.sha256 == sha(pkg) and f.build_number == 3
        chan.remove_label(f, "test")
        with pytest.raises(VerificationError, match="only|no other label"):
            remove_label(chan, [ArtifactEntry.from_artifact(read_artifact(pkg))], "main")
    assert quetz.state() == {"main": {f"linux-64/{pkg.name}": sha(pkg)}}
    installed = install_from(quetz.install_url("main"), "gamma", tmp_path / "env", platforms=("linux-64", "noarch"))
    assert installed == ["gamma-2.0-h0000000_3"]


def test_label_channels_of_a_missing_main_channel_are_private(quetz_server: QuetzServer, tmp_path: Path) -> None:
    name = new_channel_name("priv")
    channel = QuetzChannel(
        quetz_server.url, name, TargetOptions(backoff=0.01), _secret(quetz_server.api_key), f"quetz+{name}"
    )
    with channel:
        channel.upload(read_artifact(make_package(tmp_path, "delta", "1.0", 0)), "rc")
    with quetz_server.client() as client:
        assert client.get(f"/api/channels/{name}-rc").json()["private"] is True
    # Anonymous users do not see it.
    assert httpx.get(f"{quetz_server.url}/get/{name}-rc/noarch/repodata.json").status_code in (401, 403, 404)


def test_write_without_token_fails_naming_the_variable(
    quetz: TargetHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("QUETZ_API_KEY", raising=False)
    channel = open_channel(quetz.url, TargetOptions(backoff=0.01))
    assert channel.files("anything") == []  # reading a public channel needs no token
    with pytest.raises(AuthError, match="QUETZ_API_KEY"), channel:
        channel.upload(read_artifact(make_package(tmp_path, "eps", "1.0", 0)), "test")
    assert quetz.state() == {}


def test_refused_token_is_exit_5_and_never_echoed(quetz: TargetHandle, tmp_path: Path) -> None:
    canary = "cafe0000deadbeef0000cafe0000beef"
    token_file = tmp_path / "token"
    token_file.write_text(canary)
    channel = open_channel(quetz.url, TargetOptions(backoff=0.01, token_file=token_file))
    with pytest.raises(AuthError) as info, channel:
        channel.upload(read_artifact(make_package(tmp_path, "zeta", "1.0", 0)), "test")
    assert info.value.exit_code == 5
    assert canary not in str(info.value) and canary not in (info.value.hint or "")
    assert quetz.state() == {}


def test_parallel_uploads_land_exactly_once(quetz: TargetHandle, chan: QuetzChannel, tmp_path: Path) -> None:
    pkgs = [make_package(tmp_path, f"par{i}", "1.0", 0) for i in range(16)]
    with chan, ThreadPoolExecutor(chan.max_parallel) as pool:
        list(pool.map(lambda p: chan.upload(read_artifact(p), "test"), pkgs))
    assert quetz.state() == {"test": {f"noarch/{p.name}": sha(p) for p in pkgs}}


def _secret(value: str):  # type: ignore[no-untyped-def]
    from cipub.core.secrets import Secret

    return Secret(value, "test")

"""The pieces every target shares (cipub.channels.base, cipub.channels.http), without a server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cipub.channels import TargetOptions
from cipub.channels.anaconda import AnacondaChannel
from cipub.channels.artifactory import ArtifactoryChannel
from cipub.channels.base import (
    NAMES,
    Batch,
    Capabilities,
    Channel,
    ChannelFile,
    group_copies,
    label_of_channel,
    poll_until,
    tree_path,
)
from cipub.channels.http import HttpChannel
from cipub.channels.local import LocalChannel
from cipub.channels.prefix import PrefixChannel
from cipub.channels.psm import PSMChannel
from cipub.channels.quetz import QuetzChannel
from cipub.channels.s3 import S3Channel
from cipub.core.errors import AuthError, InvalidPackageError, UsageError, VerificationError
from cipub.core.secrets import Secret

KINDS = (AnacondaChannel, ArtifactoryChannel, LocalChannel, PrefixChannel, PSMChannel, QuetzChannel, S3Channel)


@pytest.mark.parametrize("kind", KINDS)
def test_every_target_declares_its_capabilities(kind: type[object]) -> None:
    assert isinstance(kind.capabilities, Capabilities)  # type: ignore[attr-defined]


def test_only_anaconda_has_native_labels_and_only_prefix_cannot_list_its_labels() -> None:
    assert [k.__name__ for k in KINDS if k.capabilities.native_labels] == ["AnacondaChannel"]  # type: ignore[attr-defined]
    assert [k.__name__ for k in KINDS if not k.capabilities.lists_labels] == ["PrefixChannel"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("label", ["main", "test", "rc-1", "release_2.0", "RC", "0"])
def test_the_one_label_rule_accepts(label: str) -> None:
    assert NAMES.check(label) == label


@pytest.mark.parametrize("label", ["", ".", "..", ".hidden", "-x", "a/b", "a b", "a+b", "é", "x\n"])
def test_the_one_label_rule_refuses(label: str) -> None:
    with pytest.raises(UsageError, match="invalid label"):
        NAMES.check(label)


def test_servers_with_a_documented_stricter_rule() -> None:
    assert AnacondaChannel.label_names.matches("rc") and not AnacondaChannel.label_names.matches("RC")
    assert PSMChannel.label_names.matches("rc_1") and not PSMChannel.label_names.matches("1rc")
    assert not PSMChannel.label_names.matches("r.c")


def test_tree_path_checks_every_part() -> None:
    assert tree_path("main") == ""
    assert tree_path("rc", "noarch", "a-1-0.conda") == "label/rc/noarch/a-1-0.conda"
    with pytest.raises(InvalidPackageError):
        tree_path("main", "label")  # the label tree's root is not a subdir
    with pytest.raises(InvalidPackageError):
        tree_path("main", "noarch", "../a-1-0.conda")
    with pytest.raises(UsageError):
        tree_path("..")


def test_label_of_channel() -> None:
    assert label_of_channel("proj", "proj") == "main"
    assert label_of_channel("proj", "proj-rc") == "rc"
    assert label_of_channel("proj", "Proj-RC", ignore_case=True) == "RC"
    assert label_of_channel("proj", "Proj-RC") is None
    assert label_of_channel("proj", "project") is None
    assert label_of_channel("proj", "proj-") is None


def test_file_records_from_copies() -> None:
    same = ChannelFile.from_copies("noarch", "a-1.0-h_3.conda", {"test": "aa", "main": "aa"}, build_number=None)
    assert (same.name, same.version, same.build, same.build_number) == ("a", "1.0", "h_3", 3)
    assert same.sha256 == "aa" and same.labels == {"main", "test"}
    assert same.label_sha256 == (("main", "aa"), ("test", "aa"))
    differ = ChannelFile.from_copies("noarch", "a-1.0-h_3.conda", {"test": "aa", "rc": "bb"}, build_number=7)
    assert differ.sha256 is None and differ.build_number == 7 and differ.sha256_in("rc") == "bb"
    assert differ.source_copy("rc") == ("rc", "bb")
    with pytest.raises(VerificationError):
        differ.source_copy("main")
    with pytest.raises(VerificationError):
        differ.source_copy(None)


def test_group_copies_keeps_one_row_per_label_and_the_first_record() -> None:
    rows = [("b", "test", "1", "first"), ("a", "main", "2", "x"), ("b", "test", "1", "again"), ("b", "rc", "3", "y")]
    assert group_copies(rows) == [("a", {"main": "2"}, "x"), ("b", {"test": "1", "rc": "3"}, "first")]


def test_poll_until_is_bounded_and_backs_off() -> None:
    sleeps: list[float] = []
    answers = iter([False, False, True])
    assert poll_until(lambda: next(answers), timeout=60, sleep=sleeps.append, delay=0.5, max_delay=1.5)
    assert sleeps == [0.5, 1.0]
    sleeps.clear()
    assert not poll_until(lambda: False, timeout=0, sleep=sleeps.append)
    assert sleeps == []


class Counting(Batch):
    def __init__(self) -> None:
        self.events: list[str] = []

    def _begin_batch(self) -> None:
        self.events.append("begin")

    def _end_batch(self, exc: BaseException | None) -> None:
        self.events.append(f"end {type(exc).__name__ if exc else 'ok'}")


def test_batches_nest_and_only_the_outermost_ends() -> None:
    batch = Counting()
    with batch, batch:
        assert batch.in_batch
    assert batch.events == ["begin", "end ok"] and not batch.in_batch
    with pytest.raises(KeyError), batch:
        raise KeyError("x")
    assert batch.events[-1] == "end KeyError"


class Demo(HttpChannel):
    capabilities = Capabilities(server_side_index=True, lists_labels=True)
    server = "Demo"
    token_env = ("DEMO_TOKEN", "DEMO_KEY")

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        return []


def demo(transport: httpx.MockTransport, token: str | None = "demo-secret-4711") -> Demo:
    secret = Secret(token, "test") if token else None
    return Demo("http://demo.test/api/", "proj", TargetOptions(retries=0), secret, "demo+x", transport=transport)


def test_the_token_goes_only_to_its_own_server_and_clients_close_with_the_batch() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("authorization")))
        return httpx.Response(200)

    chan = demo(httpx.MockTransport(handler))
    with chan:
        chan.http.request("GET", "/x")
        chan.plain_client("http://store.test", "store").request("GET", "http://store.test/y")
        assert len(chan._clients) == 2
    assert chan._clients == {}
    assert seen == [("demo.test", "Bearer demo-secret-4711"), ("store.test", None)]
    assert chan.base_url == "http://demo.test/api" and chan.name == "proj"


def test_writes_without_a_token_name_the_variables() -> None:
    with pytest.raises(AuthError, match="set DEMO_TOKEN or DEMO_KEY") as failed:
        demo(httpx.MockTransport(lambda r: httpx.Response(200)), token=None)._require_token()
    assert "--token-file" in (failed.value.hint or "")


@pytest.mark.parametrize(
    ("status", "error"), [(404, UsageError), (400, InvalidPackageError), (422, InvalidPackageError), (500, None)]
)
def test_refused_writes_map_to_exit_codes(status: int, error: type[Exception] | None) -> None:
    chan = demo(httpx.MockTransport(lambda r: httpx.Response(200)))
    response = httpx.Response(status, json={"error": "no"})
    refused = chan._refused(response, "uploading a.conda", missing="channel 'proj-rc'", label="rc")
    assert type(refused).__name__ == (error.__name__ if error else "NetworkError")
    if status == 404:
        assert "label 'rc' maps to channel 'proj-rc'" in (refused.hint or "")


def test_a_target_object_is_a_channel() -> None:
    assert isinstance(LocalChannel(Path("/nonexistent")), Channel)

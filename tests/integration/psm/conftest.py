"""One PSM protocol server per module; a fresh channel on it for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.psm_server import PSMServer
from tests.support.psm_target import psm_server, psm_target
from tests.support.targets import TargetHandle


@pytest.fixture(scope="module")
def psm_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PSMServer]:
    with psm_server(tmp_path_factory.mktemp("psm")) as server:
        yield server


@pytest.fixture
def psm(psm_srv: PSMServer, tmp_path: Path) -> Iterator[TargetHandle]:
    with psm_target(tmp_path, server=psm_srv) as handle:
        yield handle

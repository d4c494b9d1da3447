"""One anaconda.org-protocol server per module; a fresh owner on it for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.anaconda_server import AnacondaServer
from tests.support.anaconda_target import AnacondaHandle, anaconda_server, anaconda_target


@pytest.fixture(scope="module")
def anaconda_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnacondaServer]:
    with anaconda_server(tmp_path_factory.mktemp("anaconda")) as server:
        yield server


@pytest.fixture
def anaconda(anaconda_srv: AnacondaServer, tmp_path: Path) -> Iterator[AnacondaHandle]:
    anaconda_srv.latency = 0.0
    anaconda_srv.faults = None
    with anaconda_target(tmp_path, server=anaconda_srv) as handle:
        yield handle

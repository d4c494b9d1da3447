"""One real Quetz server for the whole session; a fresh channel on it for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.quetz import QuetzServer
from tests.support.quetz_target import quetz_server, quetz_target
from tests.support.targets import TargetHandle

__all__ = ["quetz_server"]


@pytest.fixture
def quetz(quetz_server: QuetzServer, tmp_path: Path) -> Iterator[TargetHandle]:
    with quetz_target(tmp_path, server=quetz_server) as handle:
        yield handle

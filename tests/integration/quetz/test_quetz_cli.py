"""Issue 4 acceptance on the real Quetz server, through the cipub CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import publish_flows
from tests.support.publish_flows import Cipub
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration


def test_build_upload_install_promote_install_and_rerun(cipub: Cipub, quetz: TargetHandle, tmp_path: Path) -> None:
    publish_flows.build_upload_install_promote_rerun(cipub, quetz, tmp_path)


def test_conflict_exits_6_and_leaves_quetz_unchanged(cipub: Cipub, quetz: TargetHandle, tmp_path: Path) -> None:
    publish_flows.conflict_exits_6_and_changes_nothing(cipub, quetz, tmp_path)


def test_promotion_touches_only_the_manifest_files(cipub: Cipub, quetz: TargetHandle, tmp_path: Path) -> None:
    publish_flows.promotion_touches_only_the_manifest(cipub, quetz, tmp_path)

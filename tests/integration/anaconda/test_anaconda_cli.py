"""Issue 4 acceptance on the anaconda.org-protocol server, through the cipub CLI, with labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import publish_flows
from tests.support.anaconda_target import AnacondaHandle
from tests.support.publish_flows import Cipub

pytestmark = pytest.mark.integration


def test_build_upload_install_promote_install_and_rerun(cipub: Cipub, anaconda: AnacondaHandle, tmp_path: Path) -> None:
    publish_flows.build_upload_install_promote_rerun(cipub, anaconda, tmp_path)


def test_conflict_exits_6_and_leaves_the_server_unchanged(
    cipub: Cipub, anaconda: AnacondaHandle, tmp_path: Path
) -> None:
    publish_flows.conflict_exits_6_and_changes_nothing(cipub, anaconda, tmp_path)


def test_promotion_touches_only_the_manifest_files(cipub: Cipub, anaconda: AnacondaHandle, tmp_path: Path) -> None:
    publish_flows.promotion_touches_only_the_manifest(cipub, anaconda, tmp_path)

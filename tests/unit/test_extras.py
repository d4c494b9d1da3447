"""A missing optional extra is a usage error (exit 2) naming the install line, not an ImportError."""

from __future__ import annotations

import json

import pytest

from cipub.core.errors import UsageError
from cipub.core.extras import import_extra


def test_an_installed_module_is_returned() -> None:
    assert import_extra("json", extra="x", needed_for="reading") is json


def test_a_missing_extra_names_what_needs_it_and_the_install_line() -> None:
    with pytest.raises(UsageError) as caught:
        import_extra("cipub_no_such_module.sub", extra="attest", needed_for="keyless attestations", otherwise="or not")
    assert caught.value.exit_code == 2
    assert caught.value.message == "keyless attestations: the cipub_no_such_module package is not installed"
    assert caught.value.hint == "pip install 'cipub[attest]' (or not)"

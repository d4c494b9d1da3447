"""--attest options that can only fail when signing are refused up front: before a build runs, and
in an upload's dry run (a dry run that exits 0 promises the real run will not fail on them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import CliResult
from tests.support.packages import make_package

Cli = Callable[..., CliResult]
RECIPE = Path(__file__).resolve().parents[2] / "recipes-template" / "v1-noarch-generic"


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def _bad_options(tmp_path: Path) -> dict[str, list[str]]:
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(_pem(ec.generate_private_key(ec.SECP384R1())))
    return {
        "missing-file": ["--attest", "key", "--attest-key-file", str(tmp_path / "missing.pem")],
        "rsa": ["--attest", "key", "--attest-key-file", str(rsa_key)],
        "p384": ["--attest", "key", "--attest-key-file", str(p384)],
        "bad-kind": ["--attest", "keys"],
        "no-key-file": ["--attest", "key"],
    }


CASES = ["missing-file", "rsa", "p384", "bad-kind", "no-key-file"]


@pytest.mark.parametrize("case", CASES)
def test_upload_dry_run_refuses_bad_signing_options(tmp_path: Path, cipub: Cli, case: str) -> None:
    pkg = make_package(tmp_path / "build")
    options = _bad_options(tmp_path)[case]
    result = cipub("upload", str(pkg), "--target", "./chan", "--dry-run", *options, cwd=tmp_path)
    assert result.code == 2, result.out + result.err
    assert "--attest" in result.err and "Traceback" not in result.err
    assert "BEGIN" not in result.out + result.err  # no key material is printed
    assert not (tmp_path / "chan").exists()


@pytest.mark.parametrize("case", CASES)
def test_build_refuses_bad_signing_options_before_building(
    tmp_path: Path, cipub: Cli, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    import cipub.workflows.build as build

    built: list[object] = []

    def no_build(*args: object, **kwargs: object) -> None:
        built.append(args)
        raise AssertionError("the build ran")

    monkeypatch.setattr(build, "_run_engine", no_build)
    monkeypatch.setattr("cipub.engines.select_engine", no_build)
    options = _bad_options(tmp_path)[case]
    result = cipub("build", str(RECIPE), "--target", "./chan", *options, cwd=tmp_path)
    assert result.code == 2, result.out + result.err
    assert built == []
    assert "--attest" in result.err and "Traceback" not in result.err

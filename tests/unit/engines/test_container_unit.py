"""`--container` without any container engine: platform rule, pip settings, wheel, unreachable engine."""

from __future__ import annotations

import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from cipub.core.errors import NetworkError, UsageError
from cipub.engines import BuildRequest, select_engine
from cipub.engines.container import (
    ContainerOptions,
    ContainerRattlerBuildEngine,
    ImageInfo,
    build_self_wheel,
    check_platform,
    connect,
    get_image,
    image_info,
    memory_bytes,
    minimal_environment,
    pip_environment,
)
from cipub.recipe import load_recipe

REPO = Path(__file__).resolve().parents[3]
GENERIC = REPO / "recipes-template" / "v1-noarch-generic"


def _request(platform: str | None) -> BuildRequest:
    return BuildRequest(recipe=load_recipe(GENERIC), output_dir=Path("out"), target_platform=platform)


def test_platform_of_another_architecture_is_refused_not_emulated() -> None:
    arm = image_info("img", SimpleNamespace(id="sha256:1", attrs={"Architecture": "arm64", "Os": "linux"}))
    assert arm == ImageInfo("img", "sha256:1", "linux-aarch64")
    check_platform(_request("linux-aarch64"), arm)
    check_platform(_request(None), arm)
    check_platform(_request("noarch"), arm)
    with pytest.raises(UsageError, match="does not match container image img, which is linux-aarch64") as err:
        check_platform(_request("linux-64"), arm)
    assert err.value.exit_code == 2 and "does not emulate" in str(err.value.hint)


def test_digest_is_the_repo_digest_when_there_is_one() -> None:
    image = SimpleNamespace(id="sha256:abc", attrs={"Architecture": "amd64", "RepoDigests": ["r/x@sha256:def"]})
    assert image_info("r/x:1", image).digest == "sha256:def"


def test_pip_settings_pass_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://user:s3cret@private.example/simple\ntimeout = 60\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://mirror.example/simple")
    env = pip_environment()
    assert env["PIP_EXTRA_INDEX_URL"] == "https://mirror.example/simple"
    assert env["PIP_TIMEOUT"] == "60"
    assert all("s3cret" not in value for value in env.values())


def test_the_container_environment_has_nothing_of_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIPUB_TOKEN", "canary")
    env = minimal_environment()
    assert set(env) == {"HOME", "PATH", "LANG", "PYTHONUNBUFFERED"}
    assert "canary" not in env.values() and env["HOME"] == "/tmp/cipub-home"


def test_wheel_of_itself_holds_the_package_and_its_requirements(tmp_path: Path) -> None:
    wheel = build_self_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "cipub/engines/_rattler_worker.py" in names and "cipub/schemas/manifest-1.schema.json" in names
    assert not any("__pycache__" in n for n in names)
    assert "Requires-Dist: py-rattler-build" in metadata
    assert build_self_wheel(tmp_path).read_bytes() == wheel.read_bytes()  # same key every time


def test_no_engine_reachable_is_exit_7_with_a_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(NetworkError, match="no container engine answers at unix://") as err:
        connect()
    assert "podman system service" in str(err.value.hint)


def test_select_engine_runs_in_the_container_when_given_one() -> None:
    recipe = load_recipe(GENERIC)
    engine = select_engine("auto", recipe, ContainerOptions("img"))
    assert isinstance(engine, ContainerRattlerBuildEngine) and engine.name == "rattler-build"


@pytest.mark.parametrize("text", ["garbage", "4x", "-1", "0", "1b", "1000", "5m", " ", "1.5g"])
def test_memory_limits_the_engine_would_refuse_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as err:
        ContainerOptions("img", memory=text)
    assert err.value.exit_code == 2 and err.value.hint


@pytest.mark.parametrize(("text", "size"), [("6m", 6 * 1024**2), ("512M", 512 * 1024**2), ("4g", 4 * 1024**3)])
def test_memory_sizes_in_the_engine_syntax_are_accepted(text: str, size: int) -> None:
    assert memory_bytes(text) == size
    assert ContainerOptions("img", memory=text).memory == text


def test_an_invalid_image_name_is_a_usage_error_with_a_hint() -> None:
    import docker.errors

    class Images:
        def get(self, name: str) -> None:
            raise docker.errors.APIError("500 Server Error", explanation="normalizing image: invalid reference format")

    with pytest.raises(UsageError, match="'Bad Image!!' is not a valid container image name") as err:
        get_image(SimpleNamespace(images=Images()), "Bad Image!!")
    assert err.value.hint

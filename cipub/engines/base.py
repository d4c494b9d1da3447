"""What every build engine takes and returns, and how outputs are found.

Engines differ in how they run (in-process rattler-build, a ``conda build`` subprocess) but all
answer one question the same way: which package files did this build produce? They look at the
output folder before and after (``OUT/<subdir>/*.conda|*.tar.bz2``) and report the files that are
new or rewritten. That is more reliable than ``conda build --output``, which is known to disagree
with what was actually built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cipub.core.artifact import PACKAGE_EXTENSIONS

if TYPE_CHECKING:
    from cipub.recipe import Recipe

#: file identity used to tell a rewritten package from an untouched one
FileStamp = tuple[int, int, int]


#: how to go from meta.yaml to recipe.yaml, which works on a machine that reaches only PyPI:
#: neither conda-build nor conda-recipe-manager is on PyPI (both are conda-forge packages), while
#: the rattler-build engine comes with cipub (py-rattler-build) and needs no conda at all
CONVERT_HINT = (
    'rewrite meta.yaml as recipe.yaml (the v1 format; rattler-build\'s guide "Converting from conda-build" '
    "maps each section) and cipub builds it with its bundled rattler-build, no conda needed; where "
    "conda-forge is reachable, `conda install -c conda-forge conda-recipe-manager` and "
    "`conda-recipe-manager convert meta.yaml > recipe.yaml` do it for you"
)


@dataclass(frozen=True)
class BuildRequest:
    """One build: a recipe, where packages go, and what to pin (variants, build number, platform)."""

    recipe: Recipe
    output_dir: Path
    variant_configs: tuple[Path, ...] = ()
    variant_overrides: Mapping[str, list[str]] = field(default_factory=lambda: MappingProxyType({}))
    build_number: int | None = None
    target_platform: str | None = None
    channels: tuple[str, ...] = ("conda-forge",)
    #: run the recipe's tests (rattler-build's default; ``--no-test`` turns it off)
    run_tests: bool = True
    #: where the engine's log lines go as they happen (the CLI: stderr); they are also saved in
    #: ``output_dir/`` :data:`BUILD_LOG`
    log: Callable[[str], None] | None = field(default=None, compare=False)
    #: told of each new or rewritten package file once it is on disk, while the build may still run
    #: (rattler-build indexes its output folder and runs the tests after writing a package: about a
    #: second for 100 MB), so the caller can check it meanwhile. A hint, called from the engine's
    #: thread: the file may still change; what ``build`` returns is what was built.
    on_package: Callable[[Path], None] | None = field(default=None, compare=False)
    #: called once, when the build runs in a child process of its own: this process's CPU is free
    #: from then on (work started earlier would slow the start of the build itself)
    on_started: Callable[[], None] | None = field(default=None, compare=False)


#: where a channel given by name (``conda-forge``) is fetched from, as conda and rattler do
CHANNEL_ALIAS = "https://conda.anaconda.org"


def unreachable_channel(channels: Sequence[str], timeout: float = 10.0) -> tuple[str, str] | None:
    """The first remote dependency channel this machine cannot connect to, and why; None: all answer.

    Asked only after a build or test environment could not be set up, where rattler says no more
    than that: a network that cannot reach the channel is exit 7 (re-run later), not a broken
    recipe or package (exit 4). Any HTTP answer counts as reachable; paths and file:// are skipped.
    """
    import httpx

    from cipub.core.secrets import redact_url

    for channel in channels:
        if "://" in channel:
            url = channel
        elif channel.startswith((".", "/", "~")) or Path(channel).expanduser().exists():
            continue  # a directory on this machine
        else:
            url = f"{CHANNEL_ALIAS}/{channel}"
        if not url.lower().startswith(("http://", "https://")):
            continue
        try:
            httpx.head(url.rstrip("/") + "/noarch/repodata.json", timeout=timeout)
        except httpx.TransportError as exc:
            return redact_url(channel), str(exc) or type(exc).__name__
    return None


#: the engine's whole log of the last build, in the output directory (named when a build fails)
BUILD_LOG = "cipub-build.log"


@runtime_checkable
class Engine(Protocol):
    """A build engine: builds the request and returns the package files it produced."""

    name: str

    def build(self, request: BuildRequest) -> list[Path]: ...


def package_files(output_dir: Path) -> dict[Path, FileStamp]:
    """Every package file directly inside ``output_dir/<subdir>/``, with a stamp to detect rewrites."""
    found: dict[Path, FileStamp] = {}
    if not output_dir.is_dir():
        return found
    for subdir in output_dir.iterdir():
        if not subdir.is_dir():
            continue
        for entry in subdir.iterdir():
            if entry.name.endswith(PACKAGE_EXTENSIONS) and entry.is_file():
                stat = entry.stat()
                found[entry] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    return found


def new_package_files(output_dir: Path, before: Mapping[Path, FileStamp]) -> list[Path]:
    """Package files that appeared (or were rewritten) since ``before``, sorted for stable output."""
    after = package_files(output_dir)
    return sorted(path for path, stamp in after.items() if before.get(path) != stamp)


def effective_variant_files(request: BuildRequest, scratch: Path) -> list[Path]:
    """The ``-m`` files to hand the engine, checked first by cipub's own reader (exit 3, FILE:LINE).

    Builders do not know conda-smithy migration files (``__migrator``): when one is among them,
    cipub merges all the ``-m`` files for the target platform (as ``cipub plan`` does) into one
    generated variant file. Otherwise the files go through unchanged.
    """
    import yaml

    from cipub.recipe.variants import load_variant_files, parse_variant_file

    files = [Path(p) for p in request.variant_configs]
    platform = request.target_platform or request.recipe.target_platform
    migrations = False
    for path in files:
        parsed = parse_variant_file(path, platform, recipe_format=request.recipe.format)
        migrations = migrations or parsed.migration is not None
    if not migrations:
        return files
    config = load_variant_files(files, platform, recipe_format=request.recipe.format)
    document: dict[str, object] = dict(config.values)
    if config.zip_keys:
        document["zip_keys"] = config.zip_keys
    merged = scratch / "cipub_merged_variants.yaml"
    merged.write_text(
        "# written by cipub: the -m files merged for " + platform + "\n" + yaml.safe_dump(document, sort_keys=True),
        encoding="utf-8",
    )
    return [merged]

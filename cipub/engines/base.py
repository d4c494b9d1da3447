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
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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
    #: keys of ``variant_overrides`` the engine must advance together (one plan job's cells as rows)
    zip_keys: tuple[tuple[str, ...], ...] = ()
    #: per key of ``variant_overrides``, the values (by their text) to give the engine as ints or
    #: booleans, as the variant files have them (a plan cell's ``native`` values)
    variant_natives: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    #: the lowest-priority variant file, below the recipe's own (``--pinning``, ``--conda-forge``)
    pinning: Path | None = None
    #: what the variant files' selectors see besides this process's environment (conda-smithy's
    #: ``BUILD_PLATFORM``, ``CF_CUDA_ENABLED`` under ``--conda-forge``)
    variant_environ: Mapping[str, str] | None = None
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

    Builders do not know conda-smithy migration files (``__migrator``), nor a pinning below the
    recipe's own file: when one is among them (or ``request.pinning`` is given), cipub merges the
    pinning, the recipe's own file and the ``-m`` files for the target platform (as ``cipub plan``
    does) into one generated variant file. Otherwise the files go through unchanged. A build of several plan cells
    in one run (``request.zip_keys``), or of values that must reach the engine as ints or booleans
    (``request.variant_natives``), gets one more file, last: :func:`job_variant_file`.
    """
    from cipub.recipe.variants import parse_variant_file

    files = [Path(p) for p in request.variant_configs]
    platform = request.target_platform or request.recipe.target_platform
    migrations = False
    for path in files:
        parsed = parse_variant_file(path, platform, recipe_format=request.recipe.format)
        migrations = migrations or parsed.migration is not None
    if migrations or request.pinning is not None:
        files = [_merged(files, platform, request, scratch)]
    if file_pinned_keys(request):
        files.append(job_variant_file(request, scratch))
    return files


#: the variant key that names a build's dependency channels (conda-smithy, rattler-build)
CHANNEL_SOURCES = "channel_sources"


def variant_channel_sources(request: BuildRequest) -> tuple[str, ...]:
    """The dependency channels the build's variant config names in ``channel_sources``; () if none.

    conda-forge's pinning gives every build its channels this way (``channel_sources:
    [conda-forge]``; a value lists several, comma-separated, highest priority first): conda-smithy
    passes no ``-c`` for them, and rattler-build takes its channels from there, refusing channels
    given beside them. Read as the engine gets the config: the cell's value (``variant_overrides``)
    above the ``-m`` files, above the recipe's own variant file, above the pinning. The values of a
    job's cells are joined in order, each channel once.
    """
    from cipub.recipe import stacked_variant_files
    from cipub.recipe.variants import load_variant_files

    values = request.variant_overrides.get(CHANNEL_SOURCES)
    if values is None:
        recipe = request.recipe
        platform = request.target_platform or recipe.target_platform
        files = stacked_variant_files(recipe.directory, recipe.format, request.variant_configs, pinning=request.pinning)
        lenient = [request.pinning] if request.pinning is not None else []
        config = load_variant_files(
            files, platform, recipe_format=recipe.format, environ=request.variant_environ, lenient=lenient
        )
        values = config.values.get(CHANNEL_SOURCES, [])
    channels = (c.strip() for value in values for c in str(value).split(","))
    return tuple(dict.fromkeys(c for c in channels if c))


def engine_channels(request: BuildRequest) -> tuple[list[str] | None, list[str]]:
    """What to give rattler-build as its channels (None: the variant config's ``channel_sources``
    name them), and the channels the recipe tests solve from besides the build's output folder."""
    sources = variant_channel_sources(request)
    if sources:
        return None, list(sources)
    return list(request.channels), list(request.channels)


def typed_value(request: BuildRequest, key: str, value: object) -> Any:
    """A pinned value as the engine must see it: the variant files' int or boolean, else its text."""
    return request.variant_natives.get(key, {}).get(str(value), str(value))


def file_pinned_keys(request: BuildRequest) -> list[str]:
    """The keys of ``request.variant_overrides`` that :func:`job_variant_file` pins, not the overrides.

    The zipped keys, and every key once one value must be an int or a boolean: rattler-build's
    overrides are text, and the type is part of the hash input its build string is made from (an
    unquoted ``13`` in a variants.yaml gives another hash than ``"13"``). A later variant file
    replaces a key's values as an override does, so the build's values are the same.
    """
    zipped = {k for group in request.zip_keys for k in group}
    pinned = request.variant_overrides
    typed = any(str(v) in request.variant_natives.get(k, {}) for k, vs in pinned.items() for v in vs)
    return [k for k in pinned if typed or k in zipped]


def job_variant_file(request: BuildRequest, scratch: Path) -> Path:
    """The variant file that pins :func:`file_pinned_keys`: their values (for a job, one per cell;
    ints and booleans as the variant files have them) and the zip of ``request.zip_keys``. Every
    group's keys have the same number of values, so a zip an earlier file defines among them (the
    pinning's python and numpy) has rows of equal length too."""
    import yaml

    pinned = request.variant_overrides
    document: dict[str, object] = {
        k: [typed_value(request, k, v) for v in pinned[k]] for k in file_pinned_keys(request)
    }
    if request.zip_keys:
        document["zip_keys"] = [list(group) for group in request.zip_keys]
    path = scratch / "cipub_job_variants.yaml"
    path.write_text(
        "# written by cipub: one plan job's cells, one zip row each\n" + yaml.safe_dump(document), encoding="utf-8"
    )
    return path


def _merged(files: Sequence[Path], platform: str, request: BuildRequest, scratch: Path) -> Path:
    import yaml

    from cipub.recipe import stacked_variant_files
    from cipub.recipe.variants import load_variant_files, typed_values

    recipe = request.recipe
    stacked = stacked_variant_files(recipe.directory, recipe.format, files, pinning=request.pinning)
    lenient = [request.pinning] if request.pinning is not None else []
    config = load_variant_files(
        stacked, platform, recipe_format=recipe.format, environ=request.variant_environ, lenient=lenient
    )
    # ints and booleans as rattler-build reads them in the files merged here (its hash input has types)
    natives = typed_values(
        stacked, platform, recipe_format=recipe.format, environ=request.variant_environ, lenient=lenient
    )
    document: dict[str, object] = {k: [natives.get(k, {}).get(v, v) for v in vs] for k, vs in config.values.items()}
    if config.zip_keys:
        document["zip_keys"] = config.zip_keys
    merged = scratch / "cipub_merged_variants.yaml"
    merged.write_text(
        f"# written by cipub: the variant files merged for {platform}\n" + yaml.safe_dump(document, sort_keys=True),
        encoding="utf-8",
    )
    return merged

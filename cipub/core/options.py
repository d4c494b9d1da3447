"""Every option cipub understands, declared once.

Three kinds, one :class:`Option` shape:

* **settings** -- the fields of :class:`Settings`, each declared with :func:`setting`. They are
  layered (flag > ``CIPUB_<KEY>`` environment variable > config file key > default, see
  :mod:`cipub.core.settings`); most also have a command-line flag;
* **global options** -- settings or flags with ``scope="global"``: every command accepts them, before
  or after the subcommand (``cipub --debug upload`` and ``cipub upload --debug``);
* **flags** -- command-line only (``--dry-run``, ``--only`` ...), in :data:`FLAGS`.

Derived from these declarations, never written by hand elsewhere: the typer options of every
command (:mod:`cipub.cli._options`), their ``--help`` texts with the environment variable and the
default, the README "Configuration" table (``python -m cipub.core.options README.md`` rewrites it,
``tests/unit/test_options.py`` checks it), and the fields, types and defaults of :class:`Settings`.

Adding a setting is one ``setting(...)`` line in :class:`Settings`; renaming a flag is one edit here.

This module is imported when ``cipub --help`` starts, so it imports nothing but the standard library.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

_T = TypeVar("_T")

Scope = Literal["global", "command"]
OriginKind = Literal["flag", "env", "file", "default"]
#: how a relative value from the config file (or a default) resolves against the project root:
#: "path" always; "dotted" only when clearly a path (``./x``, ``../x``): a bare word is a channel name
PathKind = Literal["path", "dotted"]

#: where artifacts go, and where the manifest lives, by default
DEFAULT_OUTPUT_DIR: Final = "output"
#: the zero-configuration target: a local directory channel inside the project
DEFAULT_TARGET: Final = "./.cipub/channel"
ENV_PREFIX: Final = "CIPUB_"
_METADATA_KEY: Final = "cipub.option"

#: how a value's Python type is named in the README and in error messages
_KIND_NAMES: Final = {bool: "true/false", int: "integer", float: "number", str: "text", tuple: "list", list: "list"}


@dataclass(frozen=True)
class Option:
    """One option: how it is spelled on the command line, in the environment and in a config file."""

    key: str
    default: Any
    help: str
    #: command-line spellings, long form first; () for settings that only come from env or a file
    flags: tuple[str, ...] = ()
    metavar: str | None = None
    #: environment variable (settings: ``CIPUB_<KEY>``), or None
    env: str | None = None
    #: key in ``cipub.toml`` / ``[tool.cipub]`` (settings only; snake_case is accepted too)
    config_key: str | None = None
    scope: Scope = "command"
    #: how ``--help`` and the README show the default, when not the value itself
    shown_default: str | None = None
    #: smallest and largest accepted number, checked for every source (flag, env, file): a NaN,
    #: negative or absurd value is a usage error (exit 2), never a crash or an endless retry loop
    min: float | None = None
    max: float | None = None
    #: a counted flag (``-vv``): its value is how often it was given
    count: bool = False
    #: a path setting: relative values from the config file and defaults are taken from the project root
    path: PathKind | None = None

    @property
    def is_setting(self) -> bool:
        return self.config_key is not None

    @property
    def type_name(self) -> str:
        return _KIND_NAMES.get(type(self.default), "text")

    @property
    def flag(self) -> str:
        """The long spelling, used wherever one flag names the option (``--debug`` output, errors)."""
        return self.flags[0] if self.flags else f"--{self.key.replace('_', '-')}"

    def range_text(self) -> str:
        """The accepted range in words ("from 1 to 64"), or ""."""

        def shown(bound: float) -> str:
            return str(int(bound)) if float(bound).is_integer() else str(bound)

        if self.min is not None and self.max is not None:
            return f"from {shown(self.min)} to {shown(self.max)}"
        if self.min is not None:
            return f"at least {shown(self.min)}"
        if self.max is not None:
            return f"at most {shown(self.max)}"
        return ""

    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None:
            return ""
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, (tuple, list)):
            return ", ".join(str(v) for v in self.default)
        return str(self.default)

    def help_text(self) -> str:
        """The help line with its environment variable and default, as ``--help`` shows it."""
        notes = []
        if self.env:
            notes.append(f"env: {self.env}")
        shown = self.default_text()
        if shown and not (isinstance(self.default, bool) and not self.default):
            notes.append(f"default: {shown}")
        return f"{self.help} [{'; '.join(notes)}]" if notes else self.help


def setting(
    default: _T,
    *flags: str,
    help: str,
    metavar: str | None = None,
    scope: Scope = "command",
    shown_default: str | None = None,
    min: float | None = None,
    max: float | None = None,
    count: bool = False,
    path: PathKind | None = None,
) -> _T:
    """Declare a field of :class:`Settings` as a setting (its default, flags and help).

    The field's name becomes the key, the environment variable and the config key (see
    :func:`_settings_options`).
    """
    declared = Option(
        "",
        default,
        help,
        flags,
        metavar,
        scope=scope,
        shown_default=shown_default,
        min=min,
        max=max,
        count=count,
        path=path,
    )
    return field(default=default, metadata={_METADATA_KEY: declared})


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: shown by ``--debug``."""

    kind: OriginKind
    #: the flag, the environment variable or the config file
    where: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.where}" if self.where else self.kind


DEFAULT_ORIGIN: Final = Origin("default")


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, resolved once (see :func:`cipub.core.settings.resolve`).

    Each field is a setting. Secrets are not settings: tokens come from their own environment
    variables or ``--token-file``, never from here.
    """

    recipe: str = setting(
        "recipe",
        path="path",
        help="Recipe directory (or file) that build and plan use when none is named on the command line.",
    )
    target: str = setting(
        DEFAULT_TARGET,
        "--target",
        metavar="URL",
        path="dotted",
        help="Where to publish: ./dir, https://anaconda.org/OWNER, quetz+https://HOST/CH, s3://B/P ...",
    )
    label: str = setting(
        "test", "--label", "-l", metavar="LABEL", help="The staging label: builds upload to it, ci verify checks it."
    )
    promote_from: str = setting(
        "test",
        "--from",
        metavar="LABEL",
        help="Label to promote from.",
        shown_default="the staging label (label)",
    )
    promote_to: str = setting("main", "--to", metavar="LABEL", help="Label to promote to.")
    to_target: str = setting(
        "",
        "--to-target",
        metavar="URL",
        help="Promote into this other target (same URL forms as --target); its token: CIPUB_TO_TOKEN.",
    )
    to_token_file: str = setting(
        "", "--to-token-file", metavar="PATH", help="Read the --to-target token from this file."
    )
    attest: str = setting(
        "",
        "--attest",
        metavar="keyless|key",
        help="Sign a CEP 27 publish attestation for each file: keyless (Sigstore, the CI's OIDC identity) "
        "or key (--attest-key-file).",
    )
    attest_key_file: str = setting(
        "",
        "--attest-key-file",
        metavar="PATH",
        path="path",
        help="ECDSA P-256 private key (PEM) for --attest key; its contents are never printed or stored.",
    )
    identity_token_file: str = setting(
        "",
        "--identity-token-file",
        metavar="PATH",
        path="path",
        help="OIDC token (audience sigstore) for --attest keyless, instead of the CI job's own.",
    )
    sigstore_trust_config: str = setting(
        "",
        "--sigstore-trust-config",
        metavar="PATH",
        path="path",
        help="Sigstore client trust config (JSON) of a private Sigstore instance.",
        shown_default="the public Sigstore",
    )
    attest_channel_url: str = setting(
        "",
        "--attest-channel-url",
        metavar="URL",
        help="Channel URL the attestations name (targetChannel): where consumers install from. "
        "With --require-attestation, a statement for this URL is accepted besides the target's own.",
        shown_default="the target's channel URL",
    )
    require_attestation: str = setting(
        "",
        "--require-attestation",
        metavar="IDENTITY",
        help="Promote only files whose attestation verifies for this signer (certificate identity, "
        "or key:<public key PEM path>); otherwise exit 8, nothing promoted. Given empty (also "
        'CIPUB_REQUIRE_ATTESTATION="") it is exit 2, never the gate turned off.',
    )
    attestation_issuer: str = setting(
        "",
        "--attestation-issuer",
        metavar="URL",
        help="OIDC issuer the signer's certificate must name (with --require-attestation).",
        shown_default="https://token.actions.githubusercontent.com",
    )
    engine: str = setting("auto", "--engine", "-e", metavar="auto|rattler-build|conda-build|boa", help="Build engine.")
    container: str = setting(
        "",
        "--container",
        metavar="IMAGE",
        help="Run the build engine in this container image (Docker Engine API: Docker, or Podman's "
        "`podman system service`, found through DOCKER_HOST). Planning, upload and promotion stay here.",
        shown_default="build on this machine",
    )
    container_memory: str = setting(
        "",
        "--container-memory",
        metavar="SIZE",
        help="Memory limit of the build container, e.g. 4g.",
        shown_default="no limit",
    )
    container_timeout: float = setting(
        0.0,
        "--container-timeout",
        metavar="SECONDS",
        min=0,
        help="Stop the build container after this many seconds (exit 4).",
        shown_default="no limit",
    )
    output_dir: str = setting(
        DEFAULT_OUTPUT_DIR,
        "--output-dir",
        "-o",
        metavar="DIR",
        path="path",
        help=(
            "Where the build writes packages, the manifest and the ledger; upload, promote, status, yank,"
            " prune and ci verify read them there."
        ),
    )
    manifest: str = setting(
        "",
        "--manifest",
        "-M",
        metavar="PATH",
        path="path",
        help="Manifest to write.",
        shown_default="<output-dir>/cipub-manifest.json",
    )
    variant_config: tuple[str, ...] = setting(
        (),
        "--variant-config",
        "-m",
        metavar="FILE",
        path="path",
        help="Variant config file(s) (conda_build_config.yaml, variants.yaml); later files win. Read as the "
        "recipe's builder reads them: # [selector] lines in every file for a meta.yaml (conda-build), only in a "
        "file named conda_build_config.yaml for a recipe.yaml (rattler-build).",
    )
    pinning: str = setting(
        "",
        "--pinning",
        metavar="FILE",
        help="The lowest-priority variant file, below the recipe's own (conda-build's -e): "
        "conda-forge-pinning's conda_build_config.yaml, read as one (# [selector] lines) whatever its name.",
    )
    conda_forge: bool = setting(
        False,
        "--conda-forge",
        help="Plan the recipe's feedstock as conda-smithy does: conda-forge.yml (platforms, build_platform, "
        "os_version, noarch_platforms), the pinning (--pinning, default $CONDA_PREFIX/conda_build_config.yaml) "
        "and the migrations in .ci_support/migrations; build reads it the same way.",
    )
    grouping: str = setting(
        "cells",
        "--grouping",
        metavar="cells|conda-smithy",
        help="How plan cells group into CI jobs: one job per cell, or conda-smithy's (jobs split only over "
        "the keys every output uses).",
        shown_default="cells; conda-smithy with --conda-forge",
    )
    channels: tuple[str, ...] = setting(
        ("conda-forge",),
        "--channel",
        "-c",
        metavar="CHANNEL",
        path="dotted",
        help="Dependency channel the build solves from, as conda-build/rattler-build -c; repeatable.",
    )
    platforms: tuple[str, ...] = setting(
        (),
        "--platform",
        "-p",
        metavar="SUBDIR",
        help="Target platform(s): plan makes cells for each; build takes one.",
        shown_default="this machine",
    )
    noarch_platform: str = setting(
        "linux-64", "--noarch-platform", metavar="SUBDIR", help="Where noarch recipes build."
    )
    run_tests: bool = setting(
        True,
        "--test/--no-test",
        help="Run the recipe's tests after building (rattler-build; conda-build keeps its own default).",
    )
    runners: tuple[str, ...] = setting(
        (),
        "--runner",
        metavar="PLATFORM=LABEL",
        help="GitHub runner label of a platform's build jobs in the plan (osx-64=macos-15-large ...); repeatable.",
        shown_default="GitHub-hosted labels (osx-64: macos-15-intel)",
    )
    gitlab_tags: tuple[str, ...] = setting(
        (),
        "--gitlab-tag",
        metavar="PLATFORM=TAG",
        help="GitLab runner tag of a platform's build jobs in the plan (osx-arm64=saas-macos-large-m2pro; "
        "the platform twice: both tags; linux-64= : any runner); repeatable.",
        shown_default="GitLab.com-hosted tags (linux-64: none, osx-arm64: saas-macos-medium-m1)",
    )
    concurrency: int = setting(4, "--concurrency", "-j", metavar="N", min=1, max=64, help="Parallel uploads.")
    retries: int = setting(
        5, min=0, max=20, help="Retries of a failing HTTP request (5xx, timeouts) before giving up with exit 7."
    )
    backoff: float = setting(0.5, min=0, max=60, help="Base delay of the exponential retry backoff, in seconds.")
    connect_timeout: float = setting(
        10.0, min=0.1, max=600, help="Seconds to wait for a server to accept a connection."
    )
    read_timeout: float = setting(60.0, min=0.1, max=3600, help="Seconds to wait for a server's answer.")
    request_timeout: float = setting(
        600.0,
        min=1,
        max=86400,
        help="Overall seconds one HTTP request may take, body included (a trickling server is cut off).",
    )
    command_timeout: float = setting(
        10800.0,
        min=1,
        max=604800,
        help="Overall seconds a command's server traffic may take; no request starts after it (exit 7).",
    )
    max_download_mb: int = setting(
        8192, min=1, max=1048576, help="Largest package or repodata download accepted, in MiB."
    )
    index_wait: float = setting(
        60.0,
        min=0,
        max=3600,
        help="Seconds verify and promote wait for a server's (asynchronous) index to show a file.",
    )
    api_url: str = setting("", "--api-url", metavar="URL", help="API base URL for on-prem servers.")
    token_file: str = setting(
        "",
        "--token-file",
        metavar="PATH",
        path="path",
        help="Read the token from this file (tokens are never taken as command-line values).",
    )
    debug: bool = setting(
        False,
        "--debug",
        scope="global",
        help="Show tracebacks, HTTP retries and where each setting came from (never secrets).",
    )
    quiet: bool = setting(
        False, "--quiet", "-q", scope="global", help="Print only errors and results: no build log, no progress."
    )
    verbose: int = setting(
        0, "--verbose", "-v", scope="global", count=True, help="More detail: -v shows retries and engine steps."
    )
    color: str = setting(
        "auto",
        "--color",
        metavar="auto|always|never",
        scope="global",
        help="Colour in terminal output; auto honours NO_COLOR and CLICOLOR_FORCE.",
    )
    #: where each value came from (flag, env, file, default), for ``--debug``
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False, repr=False)
    #: the project root (the directory of the config file found, see :mod:`cipub.core.settings`), or None
    project_root: Path | None = field(default=None, compare=False, repr=False)

    @property
    def manifest_path(self) -> Path:
        return Path(self.manifest) if self.manifest else Path(self.output_dir) / "cipub-manifest.json"

    @property
    def target_is_default(self) -> bool:
        return self.origin("target").kind == "default"

    def origin(self, key: str) -> Origin:
        return self.origins.get(key, DEFAULT_ORIGIN)

    @property
    def sources(self) -> dict[str, str]:
        """Each setting's origin in a word: "command line", the variable, the file, or "default"."""
        words = {"flag": "command line", "default": "default"}
        described = {}
        for key in SETTING_KEYS:
            origin = self.origin(key)
            described[key] = words.get(origin.kind) or origin.where
        return described


#: command-line only options (not layered, not in config files), shared by the commands that take them
FLAGS: Final = (
    Option(
        "config",
        None,
        "Config file instead of the project's cipub.toml / pyproject.toml (found upward from here).",
        ("--config",),
        "FILE",
        env="CIPUB_CONFIG",
    ),
    Option("dry_run", False, "Print what would be done; change nothing.", ("--dry-run",)),
    Option(
        "as_json",
        False,
        "Print one JSON document (the manifest, schema 1) on stdout, and no outcome lines.",
        ("--json",),
    ),
    Option(
        "manifests",
        (),
        "Manifest(s) to act on; repeat to merge matrix cells.",
        ("--manifest", "-M"),
        "PATH",
        shown_default="<output-dir>/cipub-manifest.json",
    ),
    Option("variant", (), "Override a variant key; repeatable.", ("--variant",), "KEY=V1,V2"),
    Option("platform", None, "Target platform, e.g. linux-64.", ("--platform",), "SUBDIR"),
    Option("only", None, "Build only this cell, or this job's cells, of the plan (see cipub plan).", ("--only",), "ID"),
    Option(
        "plan_file",
        None,
        "Plan from `cipub plan --format json`: build its cell or job given with --only, with the plan's values "
        "(variants, zip, migrations as planned) and build numbers.",
        ("--plan",),
        "FILE",
    ),
    Option("build_number", None, "Use exactly this number.", ("--build-number",), "N", min=0, max=2**31 - 1),
    Option("no_bump", False, "Keep the recipe's build number.", ("--no-bump",)),
    Option("no_upload", False, "Build and write the manifest; upload nothing.", ("--no-upload",)),
    Option("move", False, "Also remove the source label once the target is verified.", ("--move",)),
    Option("broken_label", "broken", "The label yanked files get.", ("--broken-label",), "LABEL"),
    Option("remove_from", "main", "The label yank takes the files off.", ("--remove-from",), "LABEL"),
    Option("superseded", False, "Prune staged builds replaced by a newer build number.", ("--superseded",)),
    Option(
        "older_than",
        None,
        "Prune staged builds staged more than N days ago.",
        ("--older-than",),
        "DAYS",
        min=0,
        max=36500,
    ),
    Option(
        "include_newest",
        False,
        "Let --older-than prune the newest build of a variant too (kept by default).",
        ("--include-newest",),
    ),
    Option("yes", False, "Really remove (prune prints what it would do until given --yes).", ("--yes",)),
    Option("format", "text", "Output format.", ("--format", "-f"), "text|json|github|gitlab"),
    Option("output", None, "Write the output here, not stdout.", ("--output", "-o"), "FILE"),
    Option("no_build_numbers", False, "Do not ask the channel for build numbers.", ("--no-build-numbers",)),
    # ``cipub ci gitlab-pipeline``: the GitLab include sets these through its CIPUBCI_* variables
    Option(
        "promote_when",
        "manual",
        "When the child pipeline's promote job runs.",
        ("--promote-when",),
        "manual|on_success|never",
        env="CIPUBCI_PROMOTE_WHEN",
    ),
    Option(
        "environment",
        "conda-main",
        "GitLab environment of the promote job (protect it to gate releases).",
        ("--environment",),
        "NAME",
        env="CIPUBCI_ENVIRONMENT",
    ),
    Option(
        "verify",
        "install",
        "How the verify job checks the staged files (see ci verify --mode).",
        ("--verify",),
        "install|isolated|files",
        env="CIPUBCI_VERIFY",
    ),
    Option(
        "pipeline_attest",
        "sigstore",
        "Sign in the publish job: sigstore (keyless, the job's own GitLab OIDC token; it alone gets "
        "id_tokens) or none.",
        ("--attest",),
        "sigstore|none",
        env="CIPUBCI_ATTEST",
    ),
    Option(
        "runner_tags",
        "",
        "Runner tags of the build jobs per platform they run on, overriding the plan's (a platform twice: "
        "both tags; PLATFORM= : any runner).",
        ("--runner-tags",),
        "PLATFORM=TAG,...",
        env="CIPUBCI_RUNNER_TAGS",
    ),
    Option(
        "verify_mode",
        "install",
        "install (from the label and the dependency channels), isolated (the label alone) or files.",
        ("--mode",),
        "install|isolated|files",
    ),
)


#: what the publish target used to be called; every old spelling is refused with this hint (exit 2),
#: never reinterpreted: ``-c`` means a dependency channel in conda, conda-build, rattler-build and pixi
RETIRED_TARGET_HINT: Final = (
    "the publish target is now --target URL (environment CIPUB_TARGET, config key `target`); "
    "-c/--channel names dependency channels, on build and plan only"
)
#: old flags, by spelling, on the commands that no longer take them (all but build and plan)
RETIRED_FLAGS: Final = ("--channel", "-c")
#: old environment variables and config keys
RETIRED_ENV: Final = ("CIPUB_CHANNEL",)
RETIRED_CONFIG_KEYS: Final = ("channel",)


def _settings_options() -> list[Option]:
    return [
        replace(declared, key=f.name, env=ENV_PREFIX + f.name.upper(), config_key=f.name.replace("_", "-"))
        for f in fields(Settings)
        if isinstance(declared := f.metadata.get(_METADATA_KEY), Option)
    ]


#: every option by key: the settings (in declaration order), then the flags
OPTIONS: Final[Mapping[str, Option]] = {o.key: o for o in (*_settings_options(), *FLAGS)}
SETTING_KEYS: Final = tuple(key for key, o in OPTIONS.items() if o.is_setting)
GLOBAL_KEYS: Final = tuple(key for key, o in OPTIONS.items() if o.scope == "global")


# -- the README "Configuration" table ------------------------------------------------------------

README_START: Final = "<!-- settings-table: generated by `python -m cipub.core.options README.md` -->"
README_END: Final = "<!-- /settings-table -->"


_NONE: Final = "\N{EN DASH}"  # an empty table cell, as the README's other tables write it


def _code(text: str) -> str:
    return f"`{text}`" if text else _NONE


def settings_table() -> str:
    """The README's table of settings, one row per setting, from the declarations above."""
    rows = [
        "| config key | flag | environment | type | default | what it sets |",
        "|---|---|---|---|---|---|",
    ]
    for key in SETTING_KEYS:
        o = OPTIONS[key]
        flags = ", ".join(f"`{f}`" for f in o.flags) or _NONE
        help_text = o.help.replace("|", "\\|")
        kind = f"{o.type_name}, {o.range_text()}" if o.range_text() else o.type_name
        rows.append(f"| `{o.config_key}` | {flags} | `{o.env}` | {kind} | {_code(o.default_text())} | {help_text} |")
    return "\n".join(rows) + "\n"


def replace_settings_table(text: str) -> str:
    """``text`` (the README) with the block between the settings-table markers regenerated."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"no {README_START!r} ... {README_END!r} block")
    return text[: start + len(README_START)] + "\n" + settings_table() + text[end:]


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    if len(sys.argv) != 2:
        sys.stdout.write(settings_table())
    else:
        readme = Path(sys.argv[1])
        readme.write_text(replace_settings_table(readme.read_text(encoding="utf-8")), encoding="utf-8")

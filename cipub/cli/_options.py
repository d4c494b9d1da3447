"""Typer options made from the registry (:mod:`cipub.core.options`), never spelled out by hand.

A command declares ``label: str | None = option("label")``: the flags, metavar and help text (with
the environment variable and the default) come from the registry entry ``label``. The parameter
must be named like the entry; :func:`registry_key` lets the command decorator check that, and
:func:`cipub.cli._app.settings_from` pick the settings out of the parsed parameters by that name.
"""

from __future__ import annotations

from typing import Any

import typer

from cipub.core.options import OPTIONS, Option

_KEY_ATTRIBUTE = "_cipub_option_key"
#: the recipe argument of build and plan; when absent the setting ``recipe`` answers
RECIPE_ARGUMENT_HELP = (
    "Recipe directory or file. Default: the `recipe` setting (recipe/ in the project root, the directory "
    "of cipub.toml or of pyproject.toml with [tool.cipub])."
)


def _command_line_default(spec: Option) -> Any:
    """What typer hands the command when the option is absent.

    Settings are absent as None (or an empty list), so the lower layers (env, file, default) can
    answer; flags get their own default.
    """
    if spec.count:
        return 0
    if isinstance(spec.default, (tuple, list)):
        return []
    if spec.is_setting and not isinstance(spec.default, bool):
        return None
    return spec.default


def option(key: str, *, help: str | None = None, required: bool = False) -> Any:
    """The typer option for registry entry ``key``.

    ``help`` replaces the registry's text where one command means something narrower by the same
    flag (``ci verify --platform``); ``required`` makes the option mandatory (``ci init --target``).
    """
    spec = OPTIONS[key]
    info = typer.Option(
        ... if required else _command_line_default(spec),
        *spec.flags,
        metavar=spec.metavar,
        help=help or spec.help_text(),
        show_default=False,
        # A flag's variable is read by typer; a setting's by cipub.core.settings (with its origin).
        envvar=None if spec.is_setting else spec.env,
        show_envvar=False,  # help_text() names it, in the same words for every option
        # Settings are range-checked where every source is (cipub.core.settings), with one message;
        # typer checks the bounds of command-line-only flags.
        min=None if spec.is_setting else spec.min,
        max=None if spec.is_setting else spec.max,
        count=spec.count,
    )
    setattr(info, _KEY_ATTRIBUTE, key)
    return info


def registry_key(default: object) -> str | None:
    """The registry key of a parameter default made by :func:`option`, else None."""
    key = getattr(default, _KEY_ATTRIBUTE, None)
    return key if isinstance(key, str) else None


def python_type(key: str) -> Any:
    """The annotation a parameter for ``key`` carries when the decorator adds it (global options)."""
    spec = OPTIONS[key]
    if isinstance(spec.default, bool) or spec.count:
        return type(spec.default)
    if isinstance(spec.default, (tuple, list)):
        return list[str]  # repeatable; the settings layer turns the strings into its values
    if spec.default is None:
        return str | None
    return type(spec.default) | None

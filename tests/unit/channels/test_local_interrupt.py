"""Ctrl-C while the local channel indexes: the interruption's own line, no stray warning after it."""

from __future__ import annotations

import asyncio
import gc
import signal
import warnings

import pytest

from cipub.channels.local import run_index
from cipub.cli import Interrupted


async def index_fs_like() -> None:  # stands for py-rattler's index_fs coroutine
    await asyncio.sleep(0)


def test_an_interrupt_before_the_index_coroutine_starts_leaves_no_never_awaited_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted_before_the_loop_runs(_coro: object) -> None:
        raise Interrupted(signal.SIGINT)  # as cipub's SIGINT handler raising while the loop is set up

    monkeypatch.setattr(asyncio, "run", interrupted_before_the_loop_runs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(Interrupted):
            run_index(index_fs_like())
        gc.collect()  # the coroutine is collected here, where Python would warn it was never awaited
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]


def test_the_index_coroutine_still_runs_to_its_end() -> None:
    ran: list[bool] = []

    async def index() -> None:
        await asyncio.sleep(0)
        ran.append(True)

    run_index(index())
    assert ran == [True]

"""The entry point (``python -m cipub`` and the ``cipub`` console script).

Kept free of heavy imports: the handlers for SIGINT/SIGTERM are installed before the CLI (typer,
rich: ~0.15 s) is imported, so a Ctrl-C during start-up exits 130 quietly, not with a traceback.
:func:`cipub.cli.main` installs its own handlers once it runs.
"""

import contextlib
import os
import signal
from types import FrameType


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"cipub: interrupted by {signal.Signals(signum).name} before changing anything\n".encode())
    os._exit(128 + signum)  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def run() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupted_while_starting)
    from cipub.cli import run as run_cli

    run_cli()


if __name__ == "__main__":
    run()

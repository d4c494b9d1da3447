"""The local directory channel as a test target (``cipub/channels/local.py``).

    with local_target(tmp_path) as h:
        ...

``ROOT/<subdir>/`` is label ``main``, ``ROOT/label/L/<subdir>/`` is label ``L``. ``state()`` hashes
the package files on disk itself, never through cipub.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

from tests.support.targets import TargetHandle

_counter = itertools.count()


def directory_state(root: Path) -> dict[str, dict[str, str]]:
    state: dict[str, dict[str, str]] = {}
    if not root.is_dir():
        return state
    for path in sorted(root.rglob("*")):
        if not path.is_file() or not path.name.endswith((".conda", ".tar.bz2")):
            continue
        parts = path.relative_to(root).parts
        if len(parts) == 2:
            label, subdir = "main", parts[0]
        elif len(parts) == 4 and parts[0] == "label":
            label, subdir = parts[1], parts[2]
        else:
            continue
        state.setdefault(label, {})[f"{subdir}/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def label_dir(root: Path, label: str) -> Path:
    return root if label == "main" else root / "label" / label


@contextlib.contextmanager
def local_target(tmp_path: Path, server: object | None = None) -> Iterator[TargetHandle]:
    root = tmp_path / f"local-channel-{next(_counter)}"
    yield TargetHandle(
        kind="local",
        url=str(root),
        install_url=lambda label: label_dir(root, label).as_uri(),
        state=lambda: directory_state(root),
    )

"""SIGTERM handled as Ctrl-C, so that a stopped process cleans up as an interrupted one does.

A service manager, ``kill`` or a container runtime stops a process with SIGTERM, which by
default ends it at once: no ``finally`` block runs, so half-written results and session
folders would stay. Within :func:`sigterm_as_ctrl_c` SIGTERM raises ``KeyboardInterrupt``
instead, and every ``with`` and ``finally`` on the way out runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt``; the previous handler comes
    back after it. Signal handlers belong to the main thread: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""One input's output folder, written by one run at a time and replaced only when complete.

A run of ``OUT/clip/`` holds ``OUT/.clip.lock`` (an ``fcntl`` lock, which the kernel
releases when its process dies, with the owner's pid and host written in it), writes the new
result into ``OUT/.clip.partial/`` and, once every file is written, swaps it in for the old
result. So a second run on the same folder is refused instead of clearing the first's masks,
a failed or killed run leaves the previous result as it was, and the next run removes what
an interrupted one left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
PARTIAL_SUFFIX = ".partial"
RETIRED_SUFFIX = ".old"


class FolderBusyError(RuntimeError):
    """Another live run is writing the folder."""


class ResultFolder:
    """Exclusive, all-or-nothing writing of ``final``.

    Use as a context manager: entering takes the lock (or raises :class:`FolderBusyError`)
    and cleans up after an interrupted run; :meth:`begin` gives the empty folder to write
    into; :meth:`commit` makes it ``final``. Leaving without a commit discards what was
    written, and the lock is released either way.

    Args:
        final: the folder the result lives in, e.g. ``OUT/clip``.
    """

    def __init__(self, final: str | os.PathLike) -> None:
        self.final = Path(final)
        parent, name = self.final.parent, self.final.name
        self.lock_path = parent / f".{name}{LOCK_SUFFIX}"
        self.partial = parent / f".{name}{PARTIAL_SUFFIX}"
        self.retired = parent / f".{name}{RETIRED_SUFFIX}"
        self._lock: int | None = None

    def __enter__(self) -> "ResultFolder":
        self.final.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(descriptor)
            os.close(descriptor)
            raise FolderBusyError(f"{self.final} is being written by another run ({owner}); "
                                  "wait for it to finish or choose another --out") from None
        except BaseException:
            os.close(descriptor)
            raise
        self._lock = descriptor
        try:
            owner = {"pid": os.getpid(), "host": socket.gethostname(),
                     "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps(owner).encode(), 0)
            self._recover()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _recover(self) -> None:
        """Undo what an interrupted run left: a half-written result, or a swap cut short."""
        if self.retired.exists():
            if self.final.exists():
                shutil.rmtree(self.retired)
            else:  # killed between the two renames of commit(): the old result comes back
                self.retired.rename(self.final)
                logger.info("%s: restored the previous result after an interrupted swap",
                            self.final)
        if self.partial.exists():
            shutil.rmtree(self.partial)
            logger.info("%s: removed what an interrupted run had left", self.final)

    def begin(self) -> Path:
        """The empty folder the new result is written into."""
        self._require_lock()
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir()
        return self.partial

    def commit(self) -> None:
        """Make the written folder the result, replacing the previous one."""
        self._require_lock()
        if self.final.exists():
            self.final.rename(self.retired)
        self.partial.rename(self.final)
        _sync_folder(self.final.parent)
        shutil.rmtree(self.retired, ignore_errors=True)

    def _require_lock(self) -> None:
        if self._lock is None:
            raise RuntimeError("enter the ResultFolder (take its lock) first")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self.partial.exists():
                shutil.rmtree(self.partial, ignore_errors=True)
        finally:
            if self._lock is not None:
                os.close(self._lock)  # releases the lock
                self._lock = None


def remove_interrupted(out_root: str | os.PathLike) -> list[Path]:
    """Clean up after every interrupted run under ``out_root`` that no live run owns (the
    half-written ``.NAME.partial`` folders a killed run leaves); returns the folders
    cleaned for."""
    root = Path(out_root)
    if not root.is_dir():
        return []
    names = {leftover.name[1:].rsplit(".", 1)[0]
             for suffix in (PARTIAL_SUFFIX, RETIRED_SUFFIX)
             for leftover in root.glob(f".*{suffix}") if leftover.is_dir()}
    cleaned = []
    for name in sorted(names - {""}):
        with contextlib.suppress(FolderBusyError), ResultFolder(root / name):
            cleaned.append(root / name)
    return cleaned


def _read_owner(descriptor: int) -> str:
    """'process PID on HOST since TIME' from a lock file, as far as it can be read."""
    try:
        owner = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
        return f"process {owner['pid']} on {owner['host']} since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its pid yet"


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries (the renames of a commit) to disk where the OS allows."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

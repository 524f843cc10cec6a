"""The studio's sessions as a whole: one locked root folder for all of them, and the
session of each client, found by the client's id and closed when the client goes away.

The root lies under the temporary folder and holds an ``fcntl`` lock while its studio runs
(the kernel releases it when the process dies), so a studio started later can tell the
roots of killed studios from those of running ones and remove them.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tracker.studio_session import StudioError, StudioSession

logger = logging.getLogger(__name__)

ROOT_PREFIX = "clicktrack-sessions-"
ROOT_LOCK = ".owner.lock"


def remove_stale_roots(parent: Path) -> None:
    """Delete the session roots under ``parent`` whose studio has gone without removing them
    (killed): nobody holds their lock. Roots of running studios are left alone."""
    for root in parent.glob(ROOT_PREFIX + "*"):
        try:
            with (root / ROOT_LOCK).open("rb") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(root, ignore_errors=True)
        except OSError:  # held by a running studio, not a root of ours, or not readable
            continue
        logger.info("removed %s, left by a studio that was killed", root)


@contextmanager
def sessions_root() -> Iterator[Path]:
    """A new folder for the session folders, under the temporary folder (``TMPDIR``), locked
    while the studio runs and removed after it. Stale roots are removed first."""
    parent = Path(tempfile.gettempdir())
    remove_stale_roots(parent)
    # Locked before it gets the name that remove_stale_roots looks for.
    staging = Path(tempfile.mkdtemp(prefix="." + ROOT_PREFIX, dir=parent))
    with (staging / ROOT_LOCK).open("wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = staging.rename(parent / staging.name[1:])
        try:
            yield root
        finally:
            shutil.rmtree(root, ignore_errors=True)



class SessionRegistry:
    """The studio sessions by the id of the client (browser tab or API client) they belong
    to, so that the work of a client that has gone can be stopped, and the events it left in
    the queue refused.

    Args:
        new_session: makes the session of a client seen for the first time.
    """

    def __init__(self, new_session: Callable[[], StudioSession]) -> None:
        self._new_session = new_session
        self._by_client: dict[str, StudioSession] = {}
        self._lock = threading.Lock()

    def session_for(self, client: str, session: StudioSession | None) -> StudioSession:
        """The client's open session: ``session`` (the one its UI state holds), else the one
        registered for the client, else a new one.

        Raises:
            StudioError: the client has gone (:meth:`end`): what it left queued does no work.
        """
        with self._lock:
            registered = self._by_client.get(client)
            if registered is not None and registered.closed:
                raise StudioError("this session has ended (its page was closed or lost its "
                                  "connection); reload the page to start again")
            if session is None or session.closed:
                session = registered or self._new_session()
            self._by_client[client] = session
            return session

    def end(self, client: str) -> None:
        """The client has gone (tab closed or reloaded, connection lost): stop its session's
        running work (after the current frame), delete its folder and refuse its queued
        work. The closed session stays registered until :meth:`discard`."""
        with self._lock:
            session = self._by_client.get(client)
        if session is not None and not session.closed:
            logger.info("client gone: closing session %s", session.folder.name)
            session.close()

    def discard(self, session: StudioSession | None) -> None:
        """Close ``session`` (its UI state expired) and forget it."""
        if session is None:
            return
        with self._lock:
            for client in [c for c, s in self._by_client.items() if s is session]:
                del self._by_client[client]
        session.close()

    def close_all(self) -> None:
        """Close every session (the studio is shutting down)."""
        with self._lock:
            sessions, self._by_client = list(self._by_client.values()), {}
        for session in sessions:
            session.close()
